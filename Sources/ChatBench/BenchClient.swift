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
    /// The room's seq is checked as the chat CLI checks it: a jump is a lost push, whose
    /// messages are fetched with `after_seq` and delivered then (`recovered` true); a
    /// seq seen already is a repeat. Gates without seqs (0) are not checked.
    func receive(_ deliver: @escaping @Sendable (_ stamp: BenchStamp, _ receivedNanos: UInt64, _ recovered: Bool) -> Void,
                 seqEvent: @escaping @Sendable (SeqEvent) -> Void) async {
        let lastSeq = NIOLockedValueBox<Int64>(0)
        await gate.registration.call.receive { bytes in
            let now = monotonicNanos()
            guard let any = try? bytes.withUnsafeReadableBytes({ try ProtoAny(serializedBytes: $0) }),
                  let note = try? any.unpack(Chat_Client_NewMessageNotification.self), let message = note.message,
                  let stamp = BenchStamp(parsing: message.message) else { return }
            if message.seq > 0 {
                let previous = lastSeq.withLockedValue { last in
                    defer { last = max(last, message.seq) }
                    return last
                }
                if message.seq <= previous { return seqEvent(.repeated) }
                // The first push sets where this receiver starts (it joined mid-stream).
                if previous > 0 && message.seq > previous + 1 { self.fillGap(after: previous, before: message.seq, deliver, seqEvent) }
            }
            deliver(stamp, now, false)
        }
    }

    enum SeqEvent: Sendable {
        /// A push with a seq at or below one seen already (pushed twice, or out of order).
        case repeated
        /// A jump in seq; `missing` messages were fetched, `fetched` came back.
        case gap(missing: Int, fetched: Int)
        case gapFetchFailed(missing: Int, error: String)
    }

    private func fillGap(after last: Int64, before next: Int64,
                         _ deliver: @escaping @Sendable (BenchStamp, UInt64, Bool) -> Void,
                         _ seqEvent: @escaping @Sendable (SeqEvent) -> Void) {
        var request = Chat_ChatRoom_GetRecentMessagesRequest()
        request.afterSeq = last
        request.limit = Int32(min(next - last - 1, 1000))
        let (gate, room) = (self.gate, self.room)
        Task {
            do {
                let response: Chat_ChatRoom_GetRecentMessagesResponse =
                    try await gate.call("ChatRoom", "ChatRoom-\(room)", "GetRecentMessages", request, timeout: .seconds(30))
                let now = monotonicNanos()
                let missed = response.messages.filter { $0.seq > last && $0.seq < next }
                for message in missed { if let stamp = BenchStamp(parsing: message.message) { deliver(stamp, now, true) } }
                seqEvent(.gap(missing: Int(next - last - 1), fetched: missed.count))
            } catch {
                seqEvent(.gapFetchFailed(missing: Int(next - last - 1), error: "\(error)"))
            }
        }
    }

    func close() {
        gate.close()
    }
}
