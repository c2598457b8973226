import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// One predefined room: members (user + client id), its history, and a push of every
/// new message to every member's client, the sender's included.
///
/// With an object store configured the room is durable: every change (a message, a
/// join, a leave) is recorded in its journal and written before the call that made it
/// answers, and pushes go out only after that write; a room activated again (after a
/// restart, a crash, a move) replays its journal. Each message gets the room's next
/// `seq` (from 1, no gaps); a send repeated with the same `message_id` by the same user
/// is stored once. The store keeps every message; memory holds the last
/// `Chat.historyLimit` of them, and older pages are read from the store.
public actor ChatRoom: DurableObject {
    public static let typeName = "ChatRoom"
    public static let methods = MethodTable<ChatRoom>()
        .method("Join") { (room: isolated ChatRoom, request: Chat_ChatRoom_JoinRequest, context: CallContext) in
            try await room.join(afterSeq: request.afterSeq, context)
        }
        .method("SendMessage") { (room: isolated ChatRoom, request: Chat_ChatRoom_SendChatMessageRequest, context: CallContext) in
            try room.send(request.message, id: request.messageId, context)
        }
        .method("GetRecentMessages") { (room: isolated ChatRoom, request: Chat_ChatRoom_GetRecentMessagesRequest, _: CallContext) in
            var response = Chat_ChatRoom_GetRecentMessagesResponse()
            response.messages = try await room.messages(afterSeq: request.afterSeq, limit: request.limit)
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
    /// The last messages, oldest first, with the ids their senders gave them.
    private var history = MessageHistory()

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

    func join(afterSeq: Int64, _ context: CallContext) async throws -> Chat_ChatRoom_JoinResponse {
        let (client, user) = try Self.member(context)
        guard afterSeq >= 0 else { throw VerseError(.invalidArgument, "after_seq must not be negative") }
        if members.updateValue(user, forKey: client) != user {
            runtime.watchClient(client)
            var member = Chat_ChatRoomMember()
            member.clientId = client
            member.userName = user
            var event = Chat_ChatRoomEvent()
            event.joined = member
            runtime.record(event)
        }
        var response = Chat_ChatRoom_JoinResponse()
        response.roomName = name
        response.recentMessages = try await page(after: afterSeq > 0 ? afterSeq : history.lastSeq - Int64(Chat.recentCount),
                                                 count: afterSeq > 0 ? Chat.maxPage : Chat.recentCount)
        return response
    }

    func leave(_ context: CallContext) throws -> Chat_ChatRoom_LeaveResponse {
        let (client, _) = try Self.member(context)
        if members.removeValue(forKey: client) != nil {
            runtime.unwatchClient(client)
            recordLeft(client)
        }
        return Chat_ChatRoom_LeaveResponse()
    }

    private func recordLeft(_ client: String) {
        var event = Chat_ChatRoomEvent()
        event.left = client
        runtime.record(event)
    }

    func send(_ text: String, id messageID: String, _ context: CallContext) throws -> Chat_Client_SendChatMessageResponse {
        let (client, user) = try Self.member(context)
        guard members[client] != nil else {
            throw VerseError(.failedPrecondition, "join room \(name) before sending to it")
        }
        guard !text.allSatisfy(\.isWhitespace) else { throw VerseError(.invalidArgument, "the message is empty") }
        guard text.utf8.count <= Chat.maxMessageBytes else {
            throw VerseError(.invalidArgument, "the message is \(text.utf8.count) bytes; the limit is \(Chat.maxMessageBytes)")
        }
        guard messageID.utf8.count <= Chat.maxMessageIDBytes else {
            throw VerseError(.invalidArgument, "message_id is \(messageID.utf8.count) bytes; the limit is \(Chat.maxMessageIDBytes)")
        }
        // A repeat (the reply was lost, the client reconnected) is stored once and answers OK again.
        if !messageID.isEmpty && history.contains(user: user, messageID: messageID) {
            return Chat_Client_SendChatMessageResponse()
        }
        var message = Chat_ChatMessage()
        message.userName = user // from the verified identity, never from the request
        message.message = text
        message.timestamp = WallClock.unixMicros()
        message.seq = history.lastSeq + 1
        var stored = Chat_StoredChatMessage()
        stored.message = message
        stored.messageId = messageID
        history.append(stored)
        var event = Chat_ChatRoomEvent()
        event.message = stored
        runtime.record(event)
        if history.lastSeq % Chat.snapshotEvery == 0 { runtime.saveSnapshot(state()) }
        var notification = Chat_Client_NewMessageNotification()
        notification.message = message
        runtime.push(notification, to: Array(members.keys)) // sent once the message is durable
        return Chat_Client_SendChatMessageResponse()
    }

    /// after_seq 0: the last `limit`; > 0: the first `limit` after it. limit 0 means
    /// `Chat.recentCount`, at most `Chat.maxPage`.
    func messages(afterSeq: Int64, limit: Int32) async throws -> [Chat_ChatMessage] {
        guard afterSeq >= 0, limit >= 0 else { throw VerseError(.invalidArgument, "after_seq and limit must not be negative") }
        let count = min(limit == 0 ? Chat.recentCount : Int(limit), Chat.maxPage)
        // Seqs have no gaps, so the last `count` are the ones after lastSeq - count.
        return try await page(after: afterSeq > 0 ? afterSeq : history.lastSeq - Int64(count), count: count)
    }

    /// The first `count` messages with a seq above `seq`, oldest first: from memory
    /// when it holds them, else the older part from the store's journal.
    private func page(after seq: Int64, count: Int) async throws -> [Chat_ChatMessage] {
        let seq = max(0, seq)
        let cachedFrom = history.firstSeq
        guard runtime.isDurable, seq + 1 < cachedFrom else { return history.after(seq, limit: count) }
        var page: [Chat_ChatMessage] = []
        // Each message is one journal entry and joins and leaves are entries too, so the
        // entry of message `seq + 1` is numbered above `seq`: the scan starts there.
        var entry = seq
        scan: while page.count < count {
            let entries = try await runtime.storedEntries(after: entry, limit: Chat.maxPage)
            guard !entries.isEmpty else { break }
            for (number, stored) in entries {
                entry = number
                guard let message = try stored.unpack(Chat_ChatRoomEvent.self).message?.message else { continue }
                if message.seq >= cachedFrom { break scan } // memory has the rest
                guard message.seq > seq else { continue }
                page.append(message)
                if page.count == count { break scan }
            }
        }
        if page.count < count { page += history.after(page.last?.seq ?? seq, limit: count - page.count) }
        return page
    }

    public func onClientGone(_ clientID: String) async {
        if members.removeValue(forKey: clientID) != nil { recordLeft(clientID) }
    }

    // MARK: durable state

    public func replay(_ entry: ProtoAny) throws {
        let event = try entry.unpack(Chat_ChatRoomEvent.self)
        if let stored = event.message {
            history.append(stored)
        } else if let member = event.joined {
            if members.updateValue(member.userName, forKey: member.clientId) == nil { runtime.watchClient(member.clientId) }
        } else if let client = event.left {
            if members.removeValue(forKey: client) != nil { runtime.unwatchClient(client) }
        }
    }

    private func state() -> Chat_ChatRoomState {
        var state = Chat_ChatRoomState()
        state.stored = history.messages
        state.members = members.map { client, user in
            var member = Chat_ChatRoomMember()
            member.clientId = client
            member.userName = user
            return member
        }
        return state
    }

    /// History and members go with the room when its shard moves by a planned move.
    /// With a store there is nothing to send: the next node reads them from the store.
    public func handOff() async -> ProtoAny? {
        runtime.isDurable ? nil : ProtoAny(packing: state())
    }

    /// A hand-over's state, or the journal's last snapshot.
    public func restore(from carried: ProtoAny) async throws {
        let state = try carried.unpack(Chat_ChatRoomState.self)
        history = MessageHistory()
        for stored in state.stored { history.append(stored) }
        // Older senders' state: messages without ids or seqs.
        for var message in state.history {
            if message.seq == 0 { message.seq = history.lastSeq + 1 }
            var stored = Chat_StoredChatMessage()
            stored.message = message
            history.append(stored)
        }
        for member in state.members where members.updateValue(member.userName, forKey: member.clientId) == nil {
            runtime.watchClient(member.clientId) // its departure must reach this node now
        }
    }
}

/// A room's last messages in memory, oldest first, bounded by `Chat.historyLimit`,
/// with the (user, message id) pairs among them for spotting repeated sends.
struct MessageHistory {
    private var stored: [Chat_StoredChatMessage] = []
    private var start = 0
    private var ids: [String: Int] = [:] // "user\0id" -> times present
    private(set) var lastSeq: Int64 = 0

    var messages: [Chat_StoredChatMessage] { Array(stored[start...]) }

    mutating func append(_ message: Chat_StoredChatMessage) {
        stored.append(message)
        lastSeq = max(lastSeq, message.message?.seq ?? 0)
        if !message.messageId.isEmpty { ids[Self.idKey(message), default: 0] += 1 }
        let limit = Chat.historyLimit
        while stored.count - start > limit {
            let dropped = stored[start]
            if !dropped.messageId.isEmpty {
                let key = Self.idKey(dropped)
                ids[key, default: 1] -= 1
                if ids[key] == 0 { ids[key] = nil }
            }
            start += 1
        }
        // Compact now and then instead of shifting on every message.
        if start > limit {
            stored.removeFirst(start)
            start = 0
        }
    }

    /// The seq of the oldest message held (lastSeq + 1 when none is).
    var firstSeq: Int64 { stored[start...].first?.message?.seq ?? lastSeq + 1 }

    func contains(user: String, messageID: String) -> Bool { ids[user + "\u{0}" + messageID] != nil }

    /// The first `count` with a seq above `seq`, oldest first.
    func after(_ seq: Int64, limit count: Int) -> [Chat_ChatMessage] {
        let first = stored[start...].firstIndex { ($0.message?.seq ?? 0) > seq } ?? stored.count
        return stored[first..<min(stored.count, first + count)].map { $0.message ?? Chat_ChatMessage() }
    }

    private static func idKey(_ message: Chat_StoredChatMessage) -> String {
        (message.message?.userName ?? "") + "\u{0}" + message.messageId
    }
}
