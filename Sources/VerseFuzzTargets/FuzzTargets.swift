import NIOCore
import NIOEmbedded
@_spi(Fuzzing) import VerseGRPC
import VerseProtobuf

/// What `make fuzz` fuzzes, and what `make test` replays (the committed corpus and every
/// input that ever crashed). Each target takes arbitrary bytes and must return normally:
/// a crash, a failed precondition, a leak or a hang is a finding.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The server side of an HTTP/2 connection, fed arbitrary bytes after a valid preface.
    case http2Server = "http2-server"
    /// The gRPC deframer (length prefixes, compressed flags, inflation).
    case grpcDeframer = "grpc-deframer"
    /// Decoding of every message a client can send: gate requests and chat payloads.
    case clientMessages = "client-messages"

    public func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .http2Server: Self.http2Server(input)
        case .grpcDeframer: TransportFuzzing.deframe(input)
        case .clientMessages: Self.clientMessages(input)
        }
    }

    // MARK: http2-server

    /// One server for all inputs: an echo unary method and a bidirectional stream, so
    /// inputs that reach a handler exercise the call paths too.
    private static let server: GRPCServer = {
        var service = GRPCService(name: "fuzz.Echo")
        service.unary("Unary") { (request: Grpc_Testing_Payload, _) in request }
        service.bidirectionalStreaming("Stream") {
            (requests: RequestStream<Grpc_Testing_Payload>, writer: ResponseWriter<Grpc_Testing_Payload>, _) in
            for try await request in requests { try await writer.send(request) }
        }
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.http2.keepaliveInterval = nil
        configuration.maxReceiveMessageSize = 64 << 10
        return GRPCServer(configuration: configuration, services: [service])
    }()

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// A valid client preface, then `input` as the client's bytes, in reads whose sizes
    /// come from the input itself (a frame split across reads must behave as a whole
    /// one). Suspended handlers run as the embedded loop runs; then the connection is
    /// closed and drained.
    private static func http2Server(_ input: UnsafeRawBufferPointer) {
        let channel = EmbeddedChannel()
        do {
            try server.serve(on: channel)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            try channel.writeInbound(ByteBuffer(bytes: preface))
            var offset = 0
            while offset < input.count, channel.isActive {
                // One byte of the input says how long the next read is (1 to 256 bytes).
                let length = min(input.count - offset - 1, Int(input[offset]) + 1)
                offset += 1
                guard length > 0 else { break }
                try channel.writeInbound(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + length)])))
                offset += length
                channel.embeddedEventLoop.run()
                while try channel.readOutbound(as: ByteBuffer.self) != nil {}
            }
        } catch {
            // A protocol error closes the channel: a defined answer, not a finding.
        }
        _ = try? channel.close().wait()
        channel.embeddedEventLoop.run()
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    }

    // MARK: client-messages

    /// Every message type a client's bytes reach: what the gate decodes (its requests,
    /// the Any inside a call) and what the chat objects decode from those.
    private static let decoders: [@Sendable (UnsafeRawBufferPointer) -> Void] = [
        roundTrip(Gate_Empty.self), roundTrip(Gate_CallObjectRequest.self), roundTrip(Gate_CreateObjectRequest.self),
        roundTrip(Gate_DeleteObjectRequest.self), roundTrip(ProtoAny.self),
        roundTrip(Chat_ChatRoom_ListRequest.self), roundTrip(Chat_ChatRoom_JoinRequest.self),
        roundTrip(Chat_ChatRoom_LeaveRequest.self), roundTrip(Chat_ChatRoom_SendChatMessageRequest.self),
        roundTrip(Chat_ChatRoom_GetRecentMessagesRequest.self),
    ]

    /// Decodes with protobuf-c; what decodes must encode and decode back to itself.
    private static func roundTrip<Message: ProtoMessage>(_ type: Message.Type) -> @Sendable (UnsafeRawBufferPointer) -> Void {
        { bytes in
            guard let message = try? Message(serializedBytes: bytes) else { return }
            let again = message.serializedBytes()
            let decoded = again.withUnsafeBytes { try? Message(serializedBytes: $0) }
            precondition(decoded == message, "\(Message.protoMessageName) does not survive a round trip")
        }
    }

    private static func clientMessages(_ input: UnsafeRawBufferPointer) {
        for decode in decoders { decode(input) }
    }
}
