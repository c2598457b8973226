import NIOCore
import VerseCodec

/// One outgoing call as the calling task sees it: send request messages, read response
/// messages, and learn the status. Every operation hops to the connection's event loop.
public final class ClientCall: Sendable {
    public let path: String
    let eventLoop: EventLoop
    let allocator: ByteBufferAllocator
    let inbox: MessageInbox
    private let stream: NIOLoopBound<ClientStream>
    private let initialMetadataFuture: EventLoopFuture<Metadata>
    private let outcome: EventLoopFuture<(GRPCStatus, Metadata, CallEndCause)>
    /// How request messages are compressed (the call's grpc-encoding), if at all.
    public let requestEncoding: GRPCCompression?

    init(path: String, eventLoop: EventLoop, allocator: ByteBufferAllocator, stream: ClientStream,
         requestEncoding: GRPCCompression? = nil) {
        self.path = path
        self.requestEncoding = requestEncoding
        self.eventLoop = eventLoop
        self.allocator = allocator
        self.inbox = stream.inbox
        self.stream = NIOLoopBound(stream, eventLoop: eventLoop)
        self.initialMetadataFuture = stream.initialMetadata.futureResult
        self.outcome = stream.outcome.futureResult
    }

    /// Sends an already framed message; suspends while the server's flow-control
    /// window keeps the outbound queue over its high watermark.
    public func send(framed message: ByteBuffer) async throws {
        let stream = self.stream
        let eventLoop = self.eventLoop
        try await eventLoop.flatSubmit { stream.value.write(message, eventLoop: eventLoop) }.get()
    }

    /// Sends a message, compressed with the call's encoding unless `compress` is false.
    public func send<M: WireMessage>(_ message: M, compress: Bool = true) async throws {
        try await send(framed: MessageFramer.frame(message.wireEncoding(), allocator: allocator,
                                                   compression: compress ? requestEncoding : nil))
    }

    /// Half-closes: no more request messages.
    public func finishSending() {
        let stream = self.stream
        eventLoop.execute { stream.value.halfClose() }
    }

    /// Cancels the call: the server sees RST_STREAM(CANCEL), the caller CANCELLED.
    public func cancel() {
        let stream = self.stream
        eventLoop.execute { stream.value.cancel(with: GRPCStatus(.cancelled, "cancelled by the client"), cause: .cancelled) }
    }

    /// The next response message's bytes; nil when the call ended OK, otherwise the
    /// call's status is thrown (after every message that arrived before it).
    public func nextResponse() async throws -> ByteBuffer? {
        try await inbox.next()?.bytes
    }

    /// The next response message with how it arrived (compressed or not).
    public func nextResponseMessage() async throws -> ReceivedMessage? {
        try await inbox.next()
    }

    /// From now on, hands every response message to `handler` on the connection's
    /// event loop, in order, instead of queueing it for `nextResponse()`: for
    /// consumers of many small pushes (load generators) that cannot afford a task
    /// switch per message. `handler` must be quick and never block. The call's end
    /// still shows in `status()`.
    public func receive(_ handler: @escaping @Sendable (ByteBuffer) -> Void) async {
        let stream = self.stream
        try? await eventLoop.submit { stream.value.receiveDirectly(handler) }.get()
    }

    /// Response headers (empty for a Trailers-Only response).
    public func initialMetadata() async throws -> Metadata {
        try await initialMetadataFuture.get()
    }

    /// The final status, once the call has ended.
    public func status() async -> GRPCStatus {
        (try? await outcome.get().0) ?? GRPCStatus(.unknown, "call outcome lost")
    }

    /// How the call ended (the server's status, a lost connection, ...), once it has.
    public func endCause() async -> CallEndCause {
        (try? await outcome.get().2) ?? .protocolError
    }

    /// Trailing metadata, once the call has ended.
    public func trailingMetadata() async -> Metadata {
        (try? await outcome.get().1) ?? Metadata()
    }
}

/// A typed streaming call (client, server or bidirectional streaming).
public struct StreamingCall<Request: WireMessage, Response: WireMessage>: Sendable {
    public let call: ClientCall

    /// Typed view of a raw call (e.g. one made with `GRPCClient.makeCall`).
    public init(call: ClientCall) {
        self.call = call
    }

    public func send(_ request: Request, compress: Bool = true) async throws { try await call.send(request, compress: compress) }
    public func finishSending() { call.finishSending() }
    public func cancel() { call.cancel() }
    public func initialMetadata() async throws -> Metadata { try await call.initialMetadata() }
    public func status() async -> GRPCStatus { await call.status() }
    public func trailingMetadata() async -> Metadata { await call.trailingMetadata() }

    public var responses: ResponseStream<Response> { ResponseStream(call: call) }

    /// Client streaming: the single response (throws the status if the call failed).
    public func response() async throws -> Response {
        guard let bytes = try await call.nextResponse() else {
            throw GRPCStatus(.internal, "the server ended the call OK without a response message")
        }
        let response = try decodeMessage(Response.self, from: bytes, role: "response")
        guard try await call.nextResponse() == nil else {
            throw GRPCStatus(.internal, "the server sent more than one response message on a unary response stream")
        }
        return response
    }
}

/// Response messages as they arrive; ends normally on OK, throws GRPCStatus otherwise.
public struct ResponseStream<Message: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    let call: ClientCall

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: ClientCall
        public mutating func next() async throws -> Message? {
            guard let bytes = try await call.nextResponse() else { return nil }
            return try decodeMessage(Message.self, from: bytes, role: "response")
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
}

/// A unary response with the metadata that came with it.
public struct UnaryResponse<Message: WireMessage>: Sendable {
    public let message: Message
    public let initialMetadata: Metadata
    public let trailingMetadata: Metadata
}
