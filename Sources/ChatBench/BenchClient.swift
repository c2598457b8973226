#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// Monotonic nanoseconds (one clock for senders and receivers: they are one process).
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// What every bench message carries in its text: `b|<sender>|<sequence>|<send ns>|` and
/// padding up to the message size.
struct BenchStamp {
    let sender: Int
    let sequence: Int
    let sentNanos: UInt64

    func text(size: Int) -> String {
        let head = "b|\(sender)|\(sequence)|\(sentNanos)|"
        return head.utf8.count >= size ? head : head + String(repeating: "x", count: size - head.utf8.count)
    }

    init(sender: Int, sequence: Int, sentNanos: UInt64) {
        self.sender = sender
        self.sequence = sequence
        self.sentNanos = sentNanos
    }

    init?(parsing text: String) {
        let parts = text.utf8.split(separator: UInt8(ascii: "|"), maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].elementsEqual("b".utf8),
              let sender = Int(Substring(parts[1])), let sequence = Int(Substring(parts[2])),
              let sent = UInt64(Substring(parts[3])) else { return nil }
        self.init(sender: sender, sequence: sequence, sentNanos: sent)
    }
}

/// One simulated chat user: its Register stream, its room, and the calls it makes.
final class BenchClient: Sendable {
    let index: Int
    let user: String
    let room: String
    let grpc: GRPCClient
    let clientID: String
    let register: StreamingCall<Gate_Empty, ProtoAny>

    private init(index: Int, user: String, room: String, grpc: GRPCClient, clientID: String,
                 register: StreamingCall<Gate_Empty, ProtoAny>) {
        self.index = index
        self.user = user
        self.room = room
        self.grpc = grpc
        self.clientID = clientID
        self.register = register
    }

    /// Registers (first message: the client id) and joins `room`.
    static func start(index: Int, user: String, password: String, room: String, grpc: GRPCClient) async throws -> BenchClient {
        var metadata = Metadata()
        metadata.add("x-username", user)
        metadata.add("x-password", password)
        let register: StreamingCall<Gate_Empty, ProtoAny> =
            try await grpc.serverStreaming("/gate.GateService/Register", request: Gate_Empty(), metadata: metadata)
        guard let first = try await register.call.nextResponse() else {
            throw GRPCStatus(.unavailable, "Register ended before its first message")
        }
        let clientID = try first.withUnsafeReadableBytes { try ProtoAny(serializedBytes: $0) }.unpack(Gate_RegisterResponse.self).clientId
        let client = BenchClient(index: index, user: user, room: room, grpc: grpc, clientID: clientID, register: register)
        var join = Chat_ChatRoom_JoinRequest()
        join.userName = user
        join.clientId = clientID
        let _: Chat_ChatRoom_JoinResponse = try await client.call("ChatRoom", "ChatRoom-\(room)", "Join", join)
        return client
    }

    func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request, as: Response.Type = Response.self
    ) async throws -> Response {
        var message = Gate_CallObjectRequest()
        message.clientId = clientID
        message.type = type
        message.id = id
        message.method = method
        message.request = ProtoAny(packing: request)
        let response: Gate_CallObjectResponse = try await grpc.unary("/gate.GateService/CallObject", request: message, timeout: .seconds(30))
        return try (response.response ?? ProtoAny()).unpack(Response.self)
    }

    func send(_ text: String) async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.userName = user
        request.message = text
        let _: Chat_Client_SendChatMessageResponse = try await call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
    }

    /// Hands each pushed bench stamp to `deliver`, on the connection's event loop as
    /// the push is read (no task switch per message, so the instrument stays cheap).
    func receive(_ deliver: @escaping @Sendable (BenchStamp, UInt64) -> Void) async {
        await register.call.receive { bytes in
            let now = monotonicNanos()
            guard let any = try? bytes.withUnsafeReadableBytes({ try ProtoAny(serializedBytes: $0) }),
                  let note = try? any.unpack(Chat_Client_NewMessageNotification.self),
                  let stamp = BenchStamp(parsing: note.message?.message ?? "") else { return }
            deliver(stamp, now)
        }
    }

    func close() {
        register.cancel()
    }
}
