import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// One predefined room: members (user + client id), bounded history, and a push of
/// every new message to every member's client, the sender's included.
public actor ChatRoom: VirtualObject {
    public static let typeName = "ChatRoom"
    public static let methods = MethodTable<ChatRoom>()
        .method("Join") { (room: isolated ChatRoom, _: Chat_ChatRoom_JoinRequest, context: CallContext) in
            try room.join(context)
        }
        .method("SendMessage") { (room: isolated ChatRoom, request: Chat_ChatRoom_SendChatMessageRequest, context: CallContext) in
            try room.send(request.message, context)
        }
        .method("GetRecentMessages") { (room: isolated ChatRoom, _: Chat_ChatRoom_GetRecentMessagesRequest, _: CallContext) in
            var response = Chat_ChatRoom_GetRecentMessagesResponse()
            response.messages = room.recent()
            return response
        }
        .method("Leave") { (room: isolated ChatRoom, _: Chat_ChatRoom_LeaveRequest, context: CallContext) in
            try room.leave(context)
        }
    /// Rooms live as long as their node serves them.
    public static var idleTimeout: Duration? { nil }

    public static func allowsActivation(of id: String) -> Bool {
        id.hasPrefix(Chat.roomPrefix) && Chat.roomNames.contains(String(id.dropFirst(Chat.roomPrefix.count)))
    }

    public let name: String
    private let runtime: ObjectRuntime

    /// Run on the node's event loops: a message and its fan-out need no thread switch.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { runtime.executor }
    /// client id -> user name
    private var members: [String: String] = [:]
    private var history: [Chat_ChatMessage] = []
    private var historyStart = 0

    public init(id: String, runtime: ObjectRuntime) {
        self.name = String(id.dropFirst(Chat.roomPrefix.count))
        self.runtime = runtime
    }

    private static func member(_ context: CallContext) throws -> (client: String, user: String) {
        guard let client = context.clientID, let user = context.user, !user.isEmpty else {
            throw VerseError(.unauthenticated, "only a registered client can do this")
        }
        return (client, user)
    }

    func join(_ context: CallContext) throws -> Chat_ChatRoom_JoinResponse {
        let (client, user) = try Self.member(context)
        if members.updateValue(user, forKey: client) == nil { runtime.watchClient(client) }
        var response = Chat_ChatRoom_JoinResponse()
        response.roomName = name
        response.recentMessages = recent()
        return response
    }

    func leave(_ context: CallContext) throws -> Chat_ChatRoom_LeaveResponse {
        let (client, _) = try Self.member(context)
        if members.removeValue(forKey: client) != nil { runtime.unwatchClient(client) }
        return Chat_ChatRoom_LeaveResponse()
    }

    func send(_ text: String, _ context: CallContext) throws -> Chat_Client_SendChatMessageResponse {
        let (client, user) = try Self.member(context)
        guard members[client] != nil else {
            throw VerseError(.failedPrecondition, "join room \(name) before sending to it")
        }
        guard !text.allSatisfy(\.isWhitespace) else { throw VerseError(.invalidArgument, "the message is empty") }
        guard text.utf8.count <= Chat.maxMessageBytes else {
            throw VerseError(.invalidArgument, "the message is \(text.utf8.count) bytes; the limit is \(Chat.maxMessageBytes)")
        }
        var message = Chat_ChatMessage()
        message.userName = user // from the verified identity, never from the request
        message.message = text
        message.timestamp = WallClock.unixMicros()
        append(message)
        var notification = Chat_Client_NewMessageNotification()
        notification.message = message
        runtime.push(notification, to: Array(members.keys))
        return Chat_Client_SendChatMessageResponse()
    }

    /// The last `Chat.recentCount` messages, oldest first.
    func recent() -> [Chat_ChatMessage] {
        let stored = history.count - historyStart
        return Array(history[(historyStart + max(0, stored - Chat.recentCount))...])
    }

    private func append(_ message: Chat_ChatMessage) {
        history.append(message)
        let limit = Chat.historyLimit
        if history.count - historyStart > limit {
            historyStart += 1
            // Compact now and then instead of shifting on every message.
            if historyStart > limit {
                history.removeFirst(historyStart)
                historyStart = 0
            }
        }
    }

    public func onClientGone(_ clientID: String) async {
        members.removeValue(forKey: clientID)
    }

    /// History and members go with the room when its shard moves to another node.
    public func handOff() async -> ProtoAny? {
        var state = Chat_ChatRoomState()
        state.history = Array(history[historyStart...])
        state.members = members.map { client, user in
            var member = Chat_ChatRoomMember()
            member.clientId = client
            member.userName = user
            return member
        }
        return ProtoAny(packing: state)
    }

    public func restore(from carried: ProtoAny) async throws {
        let state = try carried.unpack(Chat_ChatRoomState.self)
        history = Array(state.history.suffix(Chat.historyLimit))
        historyStart = 0
        for member in state.members where members.updateValue(member.userName, forKey: member.clientId) == nil {
            runtime.watchClient(member.clientId) // its departure must reach this node now
        }
    }
}
