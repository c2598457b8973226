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
    init(_ description: String) { self.description = description }
}

/// The client's connection to a gate: Register (client id + pushes), calls, and
/// reconnection with backoff when the gate goes away.
final class ChatSession: Sendable {
    struct Options: Sendable {
        var host: String
        var port: Int
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
    }

    let options: Options
    private let grpc: GRPCClient
    private let state = NIOLockedValueBox(State())
    private let output: LineEditor

    init(options: Options, output: LineEditor) throws {
        self.options = options
        self.output = output
        var configuration = GRPCClient.Configuration(host: options.host, port: options.port, tls: options.tls)
        configuration.connectTimeout = .seconds(3)
        self.grpc = try GRPCClient(configuration: configuration)
    }

    var room: String? { state.withLockedValue { $0.room } }
    var server: String { "\(options.host):\(options.port)" }

    /// Registers and starts reading pushes. Throws a ChatError the user can act on.
    func connect() async throws {
        let gate: GateClient
        do {
            gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: options.user, password: options.password))
        } catch let status as GRPCStatus {
            throw ChatError(Self.explain(status, server: server))
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
                    output.show(Self.format(message))
                }
            }
        } catch let status as GRPCStatus {
            reason = status.message.isEmpty ? "\(status.code)" : status.message
        } catch {
            reason = "\(error)"
        }
        guard !state.withLockedValue({ $0.closing }) else { return }
        state.withLockedValue { $0.gate = nil }
        output.show("connection to \(server) lost (\(reason)); reconnecting...")
        await reconnect()
    }

    private func reconnect() async {
        var backoff = RetryBackoff(first: .milliseconds(500), limit: .seconds(5))
        while !state.withLockedValue({ $0.closing }) {
            try? await backoff.wait()
            do {
                try await connect()
                var note = "reconnected to \(server) as \(options.user)"
                if let room = state.withLockedValue({ $0.room }) {
                    _ = try await join(room, quiet: true)
                    note += " (back in \(room))"
                }
                output.show(note)
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
        await grpc.close()
    }

    // MARK: commands

    private func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request, as: Response.Type = Response.self
    ) async throws -> Response {
        guard let gate = state.withLockedValue({ $0.gate }) else {
            throw ChatError("not connected to \(server) (reconnecting...)")
        }
        do {
            return try await gate.call(type, id, method, request)
        } catch let status as GRPCStatus {
            throw ChatError(Self.explain(status, server: server))
        }
    }

    func listRooms() async throws -> [String] {
        let response: Chat_ChatRoom_ListResponse = try await call("ChatRoomMgr", "ChatRoomMgr0", "ListChatRooms", Chat_ChatRoom_ListRequest())
        state.withLockedValue { $0.rooms = response.chatRooms }
        return response.chatRooms
    }

    /// Joins `name` (any case); leaves the current room first. Returns recent messages.
    func join(_ name: String, quiet: Bool = false) async throws -> (room: String, recent: [Chat_ChatMessage]) {
        var rooms = state.withLockedValue { $0.rooms }
        if rooms.isEmpty { rooms = try await listRooms() }
        guard let room = rooms.first(where: { $0.lowercased() == name.lowercased() }) else {
            throw ChatError("room \"\(name)\" does not exist (try /list)")
        }
        if !quiet, let current = self.room, current != room { try? await leave() }
        var request = Chat_ChatRoom_JoinRequest()
        request.userName = options.user
        request.clientId = state.withLockedValue { $0.gate?.clientID } ?? ""
        let response: Chat_ChatRoom_JoinResponse = try await call("ChatRoom", "ChatRoom-\(room)", "Join", request)
        state.withLockedValue { $0.room = room }
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
        return response.messages
    }

    func send(_ text: String) async throws {
        guard let room = self.room else { throw ChatError("join a room first (try /list, then /join <room>)") }
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.userName = options.user
        request.message = text
        let _: Chat_Client_SendChatMessageResponse = try await call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
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
