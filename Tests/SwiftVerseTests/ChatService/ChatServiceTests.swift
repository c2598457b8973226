import ChatService
import Testing
import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// The chat objects in an embedded process, through the gate protocol.
@Suite("chat service", .serialized)
struct ChatServiceTests {
    /// An embedded chat process (keeping its rooms in `store`, if given) for `body`.
    static func withChat(historyLimit: Int = 1000, store: (any ObjectStore)? = nil,
                         _ body: (Int) async throws -> Void) async throws {
        Chat.historyLimit = historyLimit
        defer { Chat.historyLimit = 1000 }
        let gate = Gate.Configuration(advertiseAddress: "127.0.0.1:0",
                                      authenticator: SharedPasswordAuthenticator(password: "000000"), policy: Chat.policy)
        var settings = ClusterSettings(coordination: .embedded)
        settings.store = store
        let process = try ClusterProcess.node(listen: GRPCServer.Configuration(port: 0), advertise: "127.0.0.1:0",
                                              objectTypes: Chat.objectTypes, settings: settings, gate: gate)
        try await process.start()
        try await process.createObject(type: ChatRoomMgr.typeName, id: Chat.managerID)
        do {
            try await body(process.port!)
        } catch {
            await process.stop(grace: .milliseconds(100))
            throw error
        }
        await process.stop(grace: .milliseconds(100))
    }

    static func send(_ client: GateTestClient, _ text: String, room: String = "General") async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.message = text
        let _: Chat_Client_SendChatMessageResponse = try await client.call("ChatRoom", Chat.roomID(room), "SendMessage", request)
    }

    static func join(_ client: GateTestClient, _ room: String = "General") async throws -> Chat_ChatRoom_JoinResponse {
        try await client.call("ChatRoom", Chat.roomID(room), "Join", Chat_ChatRoom_JoinRequest())
    }

    @Test func historyIsBoundedAndRecentMessagesComeOldestFirst() async throws {
        try await Self.withChat(historyLimit: 5) { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(alice)
            for index in 1...8 { try await Self.send(alice, "m\(index)") }
            let recent: Chat_ChatRoom_GetRecentMessagesResponse =
                try await alice.call("ChatRoom", Chat.roomID("General"), "GetRecentMessages", Chat_ChatRoom_GetRecentMessagesRequest())
            #expect(recent.messages.map(\.message) == ["m4", "m5", "m6", "m7", "m8"])
            #expect(recent.messages.allSatisfy { $0.userName == "alice" && $0.timestamp > 1_700_000_000_000_000 })
            let joined = try await Self.join(alice)
            #expect(joined.roomName == "General")
            #expect(joined.recentMessages.count == 5)
            await alice.close()
        }
    }

    @Test func aUserOnTwoClientsGetsPushesOnBothAndLeaveStopsThem() async throws {
        try await Self.withChat { port in
            let laptop = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            let phone = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(laptop)
            _ = try await Self.join(phone)
            try await Self.send(laptop, "from the laptop")
            for client in [laptop, phone] {
                let pushes = try await client.nextPushes(1, as: Chat_Client_NewMessageNotification.self)
                #expect(pushes.first?.message?.message == "from the laptop")
            }
            let _: Chat_ChatRoom_LeaveResponse = try await phone.call("ChatRoom", Chat.roomID("General"), "Leave", Chat_ChatRoom_LeaveRequest())
            try await Self.send(laptop, "phone gone")
            #expect(try await laptop.nextPushes(1, as: Chat_Client_NewMessageNotification.self).first?.message?.message == "phone gone")
            await #expect(throws: GRPCStatus.self) {
                _ = try await phone.nextPushes(1, as: Chat_Client_NewMessageNotification.self, timeout: .milliseconds(500))
            }
            await laptop.close()
            await phone.close()
        }
    }
}
