#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import NIOCore
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

/// One simulated chat user: its gate registration and its room. Given several gates,
/// it moves to the next one when its gate goes (its Register stream ends): it registers
/// there, joins its room again and fetches what it missed meanwhile, and its sends retry
/// (with the same message id, so none is stored twice) once it has moved.
final class BenchClient: Sendable {
    let index: Int
    let user: String
    /// nil: a user that only registers (it holds a connection and gets no pushes).
    let room: String?
    private let password: String
    /// This user's connection to each gate, its own first.
    private let gates: [GRPCClient]
    private struct Session {
        var gate: GateClient
        var position: Int
        /// Counts the moves, so a retrying send knows when one has happened.
        var moves = 0
    }
    private let session: NIOLockedValueBox<Session>
    private let closed = NIOLockedValueBox(false)
    /// The last seq taken from a push; pushes at or below `fetchedThrough` were fetched
    /// already after a move (the new registration may push them again).
    private let seqs = NIOLockedValueBox<(last: Int64, fetchedThrough: Int64)>((0, 0))
    private let onPush = NIOLockedValueBox<(@Sendable (ByteBuffer) -> Void)?>(nil)

    private init(index: Int, user: String, password: String, room: String?, gates: [GRPCClient], gate: GateClient) {
        self.index = index
        self.user = user
        self.password = password
        self.room = room
        self.gates = gates
        session = NIOLockedValueBox(Session(gate: gate, position: 0))
    }

    /// Registers on the first of `gates` and joins `room` (if any).
    static func start(index: Int, user: String, password: String, room: String?, gates: [GRPCClient]) async throws -> BenchClient {
        let gate = try await join(room, as: user, password: password, on: gates[0])
        return BenchClient(index: index, user: user, password: password, room: room, gates: gates, gate: gate)
    }

    private static func join(_ room: String?, as user: String, password: String, on grpc: GRPCClient) async throws -> GateClient {
        let gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: user, password: password))
        guard let room else { return gate }
        var join = Chat_ChatRoom_JoinRequest()
        join.userName = user
        join.clientId = gate.clientID
        do {
            let _: Chat_ChatRoom_JoinResponse = try await gate.call("ChatRoom", "ChatRoom-\(room)", "Join", join, timeout: .seconds(30))
        } catch {
            gate.close()
            throw error
        }
        return gate
    }

    /// The room's object id (only users in a room send or fetch).
    private var roomObject: String { "ChatRoom-\(room ?? "")" }

    /// Moves made to another gate.
    var moves: Int { session.withLockedValue { $0.moves } }

    func send(_ text: String, id: String) async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.userName = user
        request.message = text
        request.messageId = id
        let _: Chat_Client_SendChatMessageResponse = try await retrying { [request] gate in
            try await gate.call("ChatRoom", roomObject, "SendMessage", request, timeout: .seconds(30))
        }
    }

    func listRooms() async throws {
        let _: Chat_ChatRoom_ListResponse = try await retrying { gate in
            try await gate.call("ChatRoomMgr", "ChatRoomMgr0", "ListChatRooms", Chat_ChatRoom_ListRequest(), timeout: .seconds(30))
        }
    }

    /// Runs `call` on the current gate. With several gates, a call that fails because its
    /// gate or connection went (UNAVAILABLE, CANCELLED) is tried again once this user has
    /// moved (or every 200 ms), for up to 30 s; with one gate every failure is final.
    private func retrying<Response>(_ call: @Sendable (GateClient) async throws -> Response) async throws -> Response {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let (gate, moves) = session.withLockedValue { ($0.gate, $0.moves) }
            do {
                return try await call(gate)
            } catch let status as GRPCStatus where gates.count > 1 && [.unavailable, .cancelled].contains(status.code)
                        && ContinuousClock.now < deadline {
                let waitUntil = ContinuousClock.now + .milliseconds(200)
                while self.moves == moves && ContinuousClock.now < waitUntil { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
    }

    /// Hands each pushed bench stamp to `deliver`, on the connection's event loop as
    /// the push is read (no task switch per message, so the instrument stays cheap).
    /// The room's seq is checked as the chat CLI checks it: a jump is a lost push, whose
    /// messages are fetched with `after_seq` and delivered then (`recovered` true); a
    /// seq seen already is a repeat. Gates without seqs (0) are not checked.
    func receive(_ deliver: @escaping @Sendable (_ stamp: BenchStamp, _ receivedNanos: UInt64, _ recovered: Bool) -> Void,
                 seqEvent: @escaping @Sendable (SeqEvent) -> Void) async {
        let seqs = self.seqs
        let handler: @Sendable (ByteBuffer) -> Void = { bytes in
            let now = monotonicNanos()
            guard let any = try? bytes.withUnsafeReadableBytes({ try ProtoAny(serializedBytes: $0) }),
                  let note = try? any.unpack(Chat_Client_NewMessageNotification.self), let message = note.message,
                  let stamp = BenchStamp(parsing: message.message) else { return }
            if message.seq > 0 {
                let (previous, fetched) = seqs.withLockedValue { seqs in
                    defer { seqs.last = max(seqs.last, message.seq) }
                    return seqs
                }
                if message.seq <= fetched { return } // delivered by the fetch after a move
                if message.seq <= previous { return seqEvent(.repeated) }
                // The first push sets where this receiver starts (it joined mid-stream).
                if previous > 0 && message.seq > previous + 1 { self.fillGap(after: previous, before: message.seq, deliver, seqEvent) }
            }
            deliver(stamp, now, false)
        }
        onPush.withLockedValue { $0 = handler }
        await listen(on: session.withLockedValue { $0.gate }, deliver)
    }

    /// Reads `gate`'s pushes, and (with several gates) moves on when its stream ends.
    private func listen(on gate: GateClient, _ deliver: @escaping @Sendable (BenchStamp, UInt64, Bool) -> Void) async {
        guard let handler = onPush.withLockedValue({ $0 }) else { return }
        await gate.registration.call.receive(handler)
        guard gates.count > 1 else { return }
        Task {
            _ = await gate.registration.call.status()
            await self.move(deliver)
        }
    }

    /// Registers on the next gate that answers, joins the room there, then fetches every
    /// message stored after the last one pushed to this user (the new registration
    /// pushes what comes after the join; the overlap is skipped by seq).
    private func move(_ deliver: @escaping @Sendable (BenchStamp, UInt64, Bool) -> Void) async {
        var position = session.withLockedValue { $0.position }
        while !closed.withLockedValue({ $0 }) {
            position = (position + 1) % gates.count
            guard let gate = try? await Self.join(room, as: user, password: password, on: gates[position]) else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            session.withLockedValue { $0 = Session(gate: gate, position: position, moves: $0.moves + 1) }
            if closed.withLockedValue({ $0 }) { return gate.close() }
            await listen(on: gate, deliver)
            await fetchMissed(via: gate, deliver)
            return
        }
    }

    private func fetchMissed(via gate: GateClient, _ deliver: @escaping @Sendable (BenchStamp, UInt64, Bool) -> Void) async {
        var after = seqs.withLockedValue { $0.last }
        guard after > 0 else { return }
        while true {
            var request = Chat_ChatRoom_GetRecentMessagesRequest()
            request.afterSeq = after
            request.limit = 1000
            guard let page: Chat_ChatRoom_GetRecentMessagesResponse =
                    try? await gate.call("ChatRoom", roomObject, "GetRecentMessages", request, timeout: .seconds(30)),
                  let last = page.messages.last?.seq else { return }
            let now = monotonicNanos()
            // Only what no push has delivered meanwhile.
            let fresh = seqs.withLockedValue { seqs -> [Chat_ChatMessage] in
                let fresh = page.messages.filter { $0.seq > seqs.last }
                seqs.fetchedThrough = max(seqs.fetchedThrough, last)
                seqs.last = max(seqs.last, last)
                return fresh
            }
            for message in fresh { if let stamp = BenchStamp(parsing: message.message) { deliver(stamp, now, true) } }
            after = last
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
        let (gate, room) = (session.withLockedValue { $0.gate }, roomObject)
        Task {
            do {
                let response: Chat_ChatRoom_GetRecentMessagesResponse =
                    try await gate.call("ChatRoom", room, "GetRecentMessages", request, timeout: .seconds(30))
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
        closed.withLockedValue { $0 = true }
        session.withLockedValue { $0.gate }.close()
    }
}
