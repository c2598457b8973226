#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import VerseGRPC
import VerseGateClient
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

/// One simulated chat user: its gate registration and its room.
final class BenchClient: Sendable {
    let index: Int
    let user: String
    let room: String
    let gate: GateClient

    private init(index: Int, user: String, room: String, gate: GateClient) {
        self.index = index
        self.user = user
        self.room = room
        self.gate = gate
    }

    /// Registers and joins `room`.
    static func start(index: Int, user: String, password: String, room: String, grpc: GRPCClient) async throws -> BenchClient {
        let gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: user, password: password))
        var join = Chat_ChatRoom_JoinRequest()
        join.userName = user
        join.clientId = gate.clientID
        let _: Chat_ChatRoom_JoinResponse = try await gate.call("ChatRoom", "ChatRoom-\(room)", "Join", join, timeout: .seconds(30))
        return BenchClient(index: index, user: user, room: room, gate: gate)
    }

    func send(_ text: String) async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.userName = user
        request.message = text
        let _: Chat_Client_SendChatMessageResponse = try await gate.call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request, timeout: .seconds(30))
    }

    func listRooms() async throws {
        let _: Chat_ChatRoom_ListResponse = try await gate.call("ChatRoomMgr", "ChatRoomMgr0", "ListChatRooms", Chat_ChatRoom_ListRequest(),
                                                                timeout: .seconds(30))
    }

    /// Hands each pushed bench stamp to `deliver`, on the connection's event loop as
    /// the push is read (no task switch per message, so the instrument stays cheap).
    func receive(_ deliver: @escaping @Sendable (BenchStamp, UInt64) -> Void) async {
        await gate.registration.call.receive { bytes in
            let now = monotonicNanos()
            guard let any = try? bytes.withUnsafeReadableBytes({ try ProtoAny(serializedBytes: $0) }),
                  let note = try? any.unpack(Chat_Client_NewMessageNotification.self),
                  let stamp = BenchStamp(parsing: note.message?.message ?? "") else { return }
            deliver(stamp, now)
        }
    }

    func close() {
        gate.close()
    }
}
