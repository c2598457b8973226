#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import VerseGateClient
import VerseGRPC
import VerseProtobuf

/// A problem to show the user as one line: `error: <text>`.
struct ChatError: Error, CustomStringConvertible {
    let description: String
    /// The gate could not be reached or did not answer: the call may be tried again.
    var isTransport = false
    init(_ description: String, isTransport: Bool = false) {
        self.description = description
        self.isTransport = isTransport
    }
}

/// The client's connection to a gate: Register (client id + pushes), calls, and
/// reconnection with backoff when the gate goes away.
///
/// Nothing is missed and nothing shown twice: the session remembers the last `seq` it
/// showed in its room; a push whose seq jumps ahead first fetches what came between
/// (`after_seq`), a push it has shown already is skipped, and after a reconnect it joins
/// again from that seq. Each message goes with a fresh id; one that failed for a
/// transport reason is sent again, with the same id, after the reconnect (the room
/// stores a repeated id once).
final class ChatSession: Sendable {
    struct Options: Sendable {
        /// Gates to use, in order: a lost connection moves on to the next (and round).
        var servers: [(host: String, port: Int)]
        var user: String
        var password: String
        var tls: TLSConfiguration?
    }

    private struct State {
        /// The current registration; nil while disconnected.
        var gate: GateClient?
        var room: String?
        var rooms: [String] = []
        var closing = false
        /// The last seq shown in `room` (0: none yet, or a server without seqs).
        var lastSeq: Int64 = 0
        /// Sends that failed for a transport reason, oldest first, with their room.
        var unsent: [(room: String, request: Chat_ChatRoom_SendChatMessageRequest)] = []
        /// Which of `options.servers` is in use (or tried next).
        var current = 0
    }

    let options: Options
    /// One client per gate in `options.servers`.
    private let clients: [GRPCClient]
    private let state = NIOLockedValueBox(State())
    private let output: LineEditor

    init(options: Options, output: LineEditor) throws {
        self.options = options
        self.output = output
        self.clients = try options.servers.map { server in
            var configuration = GRPCClient.Configuration(host: server.host, port: server.port, tls: options.tls)
            configuration.connectTimeout = .seconds(3)
            return try GRPCClient(configuration: configuration)
        }
    }

    var room: String? { state.withLockedValue { $0.room } }
    var server: String {
        let server = options.servers[state.withLockedValue { $0.current }]
        return "\(server.host):\(server.port)"
    }

    /// Registers and starts reading pushes, trying each gate in turn from the current
    /// one. Throws a ChatError the user can act on (the last gate's, if none answers).
    func connect() async throws {
        var lastError: ChatError?
        for _ in clients.indices {
            do {
                return try await connectToCurrent()
            } catch let error as ChatError {
                lastError = error
                // A gate that refuses these credentials refuses them everywhere.
                guard error.isTransport else { throw error }
                if clients.count > 1 { state.withLockedValue { $0.current = ($0.current + 1) % clients.count } }
            }
        }
        throw lastError!
    }

    private func connectToCurrent() async throws {
        let grpc = clients[state.withLockedValue { $0.current }]
        let gate: GateClient
        do {
            gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: options.user, password: options.password))
        } catch let status as GRPCStatus {
            let transport = status.code == .unavailable || status.code == .deadlineExceeded
            throw ChatError(Self.explain(status, server: server), isTransport: transport)
        }
        state.withLockedValue { $0.gate = gate }
        Task { await self.readPushes(gate.registration.responses.makeAsyncIterator()) }
    }

    private func readPushes(_ responses: ResponseStream<ProtoAny>.AsyncIterator) async {
        var responses = responses
        var reason = "the stream ended"
        do {
            while let push = try await responses.next() {
                if let note = try? push.unpack(Chat_Client_NewMessageNotification.self), let message = note.message {
                    await show(pushed: message)
                }
            }
        } catch let status as GRPCStatus {
            reason = status.message.isEmpty ? "\(status.code)" : status.message
        } catch {
            reason = "\(error)"
        }
        guard !state.withLockedValue({ $0.closing }) else { return }
        let lost = server
        state.withLockedValue { state in
            state.gate = nil
            state.current = (state.current + 1) % clients.count // the next gate first
        }
        output.show("connection to \(lost) lost (\(reason)); reconnecting\(clients.count > 1 ? " to \(server)" : "")...")
        await reconnect()
    }

    private func reconnect() async {
        var backoff = RetryBackoff(first: .milliseconds(500), limit: .seconds(5))
        while !state.withLockedValue({ $0.closing }) {
            try? await backoff.wait()
            do {
                try await connect()
                var note = "reconnected to \(server) as \(options.user)"
                var missed: [Chat_ChatMessage] = []
                if let room = state.withLockedValue({ $0.room }) {
                    // From the last message shown: what was sent meanwhile, once each.
                    missed = try await join(room, quiet: true, afterSeq: state.withLockedValue { $0.lastSeq }).recent
                    note += " (back in \(room))"
                }
                output.show(note)
                for message in missed { output.show(Self.format(message)) }
                await sendUnsent()
                return
            } catch {
                continue
            }
        }
    }

    func close() async {
        let gate = state.withLockedValue { state -> GateClient? in
            state.closing = true
            return state.gate
        }
        gate?.close()
        for client in clients { await client.close() }
    }

    // MARK: commands

    private func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request, as: Response.Type = Response.self
    ) async throws -> Response {
        guard let gate = state.withLockedValue({ $0.gate }) else {
            throw ChatError("not connected to \(server) (reconnecting...)", isTransport: true)
        }
        do {
            return try await gate.call(type, id, method, request)
        } catch let status as GRPCStatus {
            let transport = status.code == .unavailable || status.code == .deadlineExceeded || status.code == .cancelled
            throw ChatError(Self.explain(status, server: server), isTransport: transport)
        }
    }

    func listRooms() async throws -> [String] {
        let response: Chat_ChatRoom_ListResponse = try await call("ChatRoomMgr", "ChatRoomMgr0", "ListChatRooms", Chat_ChatRoom_ListRequest())
        state.withLockedValue { $0.rooms = response.chatRooms }
        return response.chatRooms
    }

    /// Joins `name` (any case); leaves the current room first. Returns recent messages
    /// (with `afterSeq`, those after it: a rejoin's catch-up).
    func join(_ name: String, quiet: Bool = false, afterSeq: Int64 = 0) async throws -> (room: String, recent: [Chat_ChatMessage]) {
        var rooms = state.withLockedValue { $0.rooms }
        if rooms.isEmpty { rooms = try await listRooms() }
        guard let room = rooms.first(where: { $0.lowercased() == name.lowercased() }) else {
            throw ChatError("room \"\(name)\" does not exist (try /list)")
        }
        if !quiet, let current = self.room, current != room { try? await leave() }
        var request = Chat_ChatRoom_JoinRequest()
        request.userName = options.user
        request.clientId = state.withLockedValue { $0.gate?.clientID } ?? ""
        request.afterSeq = afterSeq
        let response: Chat_ChatRoom_JoinResponse = try await call("ChatRoom", "ChatRoom-\(room)", "Join", request)
        state.withLockedValue { state in
            if state.room != room { state.lastSeq = 0 }
            state.room = room
            state.lastSeq = max(state.lastSeq, response.recentMessages.last?.seq ?? 0)
        }
        return (response.roomName, response.recentMessages)
    }

    func leave() async throws {
        guard let room = self.room else { throw ChatError("you are not in a room") }
        let _: Chat_ChatRoom_LeaveResponse = try await call("ChatRoom", "ChatRoom-\(room)", "Leave", Chat_ChatRoom_LeaveRequest())
        state.withLockedValue { $0.room = nil }
    }

    func recentMessages() async throws -> [Chat_ChatMessage] {
        guard let room = self.room else { throw ChatError("join a room first (try /list, then /join <room>)") }
        let response: Chat_ChatRoom_GetRecentMessagesResponse =
            try await call("ChatRoom", "ChatRoom-\(room)", "GetRecentMessages", Chat_ChatRoom_GetRecentMessagesRequest())
        state.withLockedValue { state in
            if state.room == room { state.lastSeq = max(state.lastSeq, response.messages.last?.seq ?? 0) }
        }
        return response.messages
    }

    func send(_ text: String) async throws {
        guard let room = self.room else { throw ChatError("join a room first (try /list, then /join <room>)") }
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.userName = options.user
        request.message = text
        request.messageId = Self.newMessageID()
        do {
            let _: Chat_Client_SendChatMessageResponse = try await call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
        } catch let error as ChatError where error.isTransport {
            // It may or may not have been stored: the same id makes a second try safe.
            state.withLockedValue { $0.unsent.append((room, request)) }
            throw ChatError("\(error); it will be sent again once reconnected", isTransport: true)
        }
    }

    /// Sends again, in order, what failed for a transport reason (same ids).
    private func sendUnsent() async {
        let unsent = state.withLockedValue { state in
            defer { state.unsent.removeAll() }
            return state.unsent
        }
        for (index, (room, request)) in unsent.enumerated() {
            do {
                let _: Chat_Client_SendChatMessageResponse = try await call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
            } catch let error as ChatError where error.isTransport {
                state.withLockedValue { $0.unsent.insert(contentsOf: unsent[index...], at: 0) }
                return
            } catch {
                output.show("error: \"\(request.message)\" was not sent: \(error)")
            }
        }
    }

    /// Shows a pushed message unless it was shown already; a jump in seq first fetches
    /// and shows what came between.
    private func show(pushed message: Chat_ChatMessage) async {
        guard message.seq > 0 else { return output.show(Self.format(message)) } // a server without seqs
        let (last, room) = state.withLockedValue { ($0.lastSeq, $0.room) }
        guard message.seq > last else { return }
        if last > 0 && message.seq > last + 1, let room {
            var request = Chat_ChatRoom_GetRecentMessagesRequest()
            request.afterSeq = last
            request.limit = Int32(min(message.seq - last - 1, 1000))
            let missed = (try? await call("ChatRoom", "ChatRoom-\(room)", "GetRecentMessages", request,
                                          as: Chat_ChatRoom_GetRecentMessagesResponse.self).messages) ?? []
            for earlier in missed where earlier.seq > last && earlier.seq < message.seq { output.show(Self.format(earlier)) }
        }
        let fresh = state.withLockedValue { state -> Bool in
            guard message.seq > state.lastSeq else { return false }
            state.lastSeq = message.seq
            return true
        }
        if fresh { output.show(Self.format(message)) }
    }

    /// A fresh id for a message (128 random bits, hex).
    static func newMessageID() -> String {
        let bits = UInt64.random(in: .min ... .max), more = UInt64.random(in: .min ... .max)
        return String(bits, radix: 16) + String(more, radix: 16)
    }

    // MARK: presentation

    /// `[HH:MM:SS] user: text`, local time.
    static func format(_ message: Chat_ChatMessage) -> String {
        var seconds = time_t(message.timestamp / 1_000_000)
        var local = tm()
        localtime_r(&seconds, &local)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "[\(two(local.tm_hour)):\(two(local.tm_min)):\(two(local.tm_sec))] \(message.userName): \(message.message)"
    }

    /// A status as the user should read it.
    static func explain(_ status: GRPCStatus, server: String) -> String {
        switch status.code {
        case .unavailable: "cannot reach \(server): \(status.message)"
        case .deadlineExceeded: "\(server) did not answer in time"
        default: status.message.isEmpty ? "\(status.code)" : status.message
        }
    }
}
