import ChatService
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Testing
import VerseGRPC
import VerseProtobuf
import VersePostgres
import VerseRuntime
import VerseSQLite

/// Chat rooms on a real SQLite store, through the gate protocol, across restarts of
/// the embedded process.
@Suite("chat service: durable rooms (SQLite)", .serialized)
struct DurableChatTests {
    /// An embedded chat process on the SQLite file at `path`, for the duration of `body`.
    static func withChat(store path: String, _ body: (Int) async throws -> Void) async throws {
        try await ChatServiceTests.withChat(store: try SQLiteObjectStore(path: path), body)
    }

    static func send(_ client: GateTestClient, _ text: String, id: String = "") async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.message = text
        request.messageId = id
        let _: Chat_Client_SendChatMessageResponse = try await client.call("ChatRoom", Chat.roomID("General"), "SendMessage", request)
    }

    static func recent(_ client: GateTestClient, afterSeq: Int64 = 0, limit: Int32 = 0) async throws -> [Chat_ChatMessage] {
        var request = Chat_ChatRoom_GetRecentMessagesRequest()
        request.afterSeq = afterSeq
        request.limit = limit
        let response: Chat_ChatRoom_GetRecentMessagesResponse =
            try await client.call("ChatRoom", Chat.roomID("General"), "GetRecentMessages", request)
        return response.messages
    }

    static func join(_ client: GateTestClient, afterSeq: Int64 = 0) async throws -> Chat_ChatRoom_JoinResponse {
        var request = Chat_ChatRoom_JoinRequest()
        request.afterSeq = afterSeq
        return try await client.call("ChatRoom", Chat.roomID("General"), "Join", request)
    }

    @Test func historyAndSeqSurviveARestartAndRepeatedSendsAreStoredOnce() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/chat.sqlite"
        try await Self.withChat(store: path) { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(alice)
            try await Self.send(alice, "one", id: "a-1")
            try await Self.send(alice, "two", id: "a-2")
            try await Self.send(alice, "two", id: "a-2") // the reply was lost: sent again
            try await Self.send(alice, "three") // no id: no dedupe
            let pushes = try await alice.nextPushes(3, as: Chat_Client_NewMessageNotification.self)
            #expect(pushes.map { $0.message?.seq ?? 0 } == [1, 2, 3])
            await alice.close()
        }
        try await Self.withChat(store: path) { port in
            let bob = try await GateTestClient.connect(port: port, user: "bob", password: "000000")
            let joined = try await Self.join(bob)
            #expect(joined.recentMessages.map(\.message) == ["one", "two", "three"])
            #expect(joined.recentMessages.map(\.seq) == [1, 2, 3])
            try await Self.send(bob, "four", id: "a-1") // another user's id space
            #expect(try await Self.recent(bob).map(\.seq) == [1, 2, 3, 4])
            // Catch-up and paging.
            #expect(try await Self.recent(bob, afterSeq: 2).map(\.message) == ["three", "four"])
            #expect(try await Self.recent(bob, afterSeq: 1, limit: 2).map(\.message) == ["two", "three"])
            #expect(try await Self.recent(bob, limit: 1).map(\.message) == ["four"])
            #expect(try await Self.join(bob, afterSeq: 3).recentMessages.map(\.message) == ["four"])
            await bob.close()
        }
    }

    /// What `historyOlderThanWhatARoomHoldsInMemoryIsPagedFromTheStore` reads (30 messages).
    static func checkPages(_ client: GateTestClient) async throws {
        #expect(try await Self.recent(client, afterSeq: 3, limit: 10).map(\.seq) == Array(4...13))
        #expect(try await Self.recent(client, limit: 20).map(\.seq) == Array(11...30))
        #expect(try await Self.recent(client, afterSeq: 25, limit: 10).map(\.seq) == Array(26...30)) // memory only
        #expect(try await Self.join(client, afterSeq: 1).recentMessages.map(\.seq) == Array(2...30))
        #expect(try await Self.recent(client, afterSeq: 1, limit: 1).map(\.message) == ["m2"])
    }

    @Test func historyOlderThanWhatARoomHoldsInMemoryIsPagedFromTheStore() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/chat.sqlite"
        // Memory holds 5 messages; the store has all 30, between joins of other members.
        try await ChatServiceTests.withChat(historyLimit: 5, store: try SQLiteObjectStore(path: path)) { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(alice)
            for index in 1...30 {
                if index % 7 == 0 {
                    let other = try await GateTestClient.connect(port: port, user: "u\(index)", password: "000000")
                    _ = try await Self.join(other)
                    await other.close()
                }
                try await Self.send(alice, "m\(index)")
            }
            try await Self.checkPages(alice)
            await alice.close()
        }
        try await ChatServiceTests.withChat(historyLimit: 5, store: try SQLiteObjectStore(path: path)) { port in
            let bob = try await GateTestClient.connect(port: port, user: "bob", password: "000000")
            try await Self.checkPages(bob)
            await bob.close()
        }
    }

    @Test func aSendIsAcknowledgedOnlyAfterItIsStoredAndPushedOnlyThen() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/chat.sqlite"
        try await Self.withChat(store: path) { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(alice)
            // Many senders at once: the answers come back once stored (group-committed).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 { group.addTask { try await Self.send(alice, "m\(index)", id: "id-\(index)") } }
                try await group.waitForAll()
            }
            let pushes = try await alice.nextPushes(50, as: Chat_Client_NewMessageNotification.self)
            #expect(pushes.map { $0.message?.seq ?? 0 } == Array(1...50))
            await alice.close()
        }
        // Every acknowledged send is in the file, once.
        let store = try SQLiteObjectStore(path: path)
        let stored = try await store.activate(ObjectKey(type: "ChatRoom", id: Chat.roomID("General")))
        let messages = try stored.entries.compactMap { try ProtoAny(serializedBytes: $0.bytes).unpack(Chat_ChatRoomEvent.self).message }
        #expect(messages.count == 50)
        #expect(Set(messages.map(\.messageId)) == Set((0..<50).map { "id-\($0)" }))
        await store.close()
    }

    @Test func badPagingArgumentsAndOversizedIdsGetInvalidArgument() async throws {
        let folder = try TemporaryFolder()
        try await Self.withChat(store: folder.path + "/chat.sqlite") { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(alice)
            await #expect { try await Self.recent(alice, afterSeq: -1) } throws: { ($0 as? GRPCStatus)?.code == .invalidArgument }
            await #expect { try await Self.recent(alice, limit: -5) } throws: { ($0 as? GRPCStatus)?.code == .invalidArgument }
            await #expect { try await Self.send(alice, "x", id: String(repeating: "i", count: 65)) } throws: {
                ($0 as? GRPCStatus)?.code == .invalidArgument
            }
            #expect(try await Self.recent(alice).isEmpty) // nothing was stored
            await alice.close()
        }
    }
}

/// The embedded chat process on a real PostgreSQL that goes away under load.
@Suite("chat service: durable rooms (PostgreSQL) while the database restarts", .serialized)
struct DatabaseOutageChatTests {
    /// Senders keep writing while the database is stopped for a few seconds: sends fail
    /// cleanly meanwhile (UNAVAILABLE), every acknowledged one is stored exactly once,
    /// and the service takes writes again by itself once the database is back.
    func results(_ box: NIOLockedValueBox<[(id: String, status: GRPCStatus.Code)]>) -> [(id: String, status: GRPCStatus.Code)] {
        box.withLockedValue { $0 }
    }

    @Test func theDatabaseStoppedUnderLoadLosesNothingAcknowledgedAndServiceResumes() async throws {
        let postgres = try PostgresProcess()
        let store = try PostgresObjectStore(url: postgres.url(), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                                            operationTimeout: .seconds(1), logger: Logger(label: "test.outage"))
        try await store.waitUntilReady()
        try await ChatServiceTests.withChat(store: store) { port in
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await DurableChatTests.join(alice)
            let outcomes = NIOLockedValueBox<[(id: String, status: GRPCStatus.Code)]>([])
            // 40 sends, then the database away for 5 s while sends go on, then on until 20
            // in a row succeed (the pool reconnects at its own pace; a minute at most).
            var index = 0, stoppedAt: ContinuousClock.Instant?, restartedAt: ContinuousClock.Instant?
            func succeededInARow() -> Int { outcomes.withLockedValue { $0 }.reversed().prefix { $0.status == .ok }.count }
            while restartedAt.map({ ContinuousClock.now - $0 < .seconds(60) && succeededInARow() < 20 }) ?? true {
                if index == 40 {
                    postgres.stop()
                    stoppedAt = .now
                }
                if let stopped = stoppedAt, restartedAt == nil, ContinuousClock.now - stopped > .seconds(5) {
                    try postgres.start()
                    restartedAt = .now
                }
                defer { index += 1 }
                var request = Chat_ChatRoom_SendChatMessageRequest()
                request.message = "m\(index)"
                request.messageId = "id-\(index)"
                do {
                    let _: Chat_Client_SendChatMessageResponse =
                        try await alice.call("ChatRoom", Chat.roomID("General"), "SendMessage", request, timeout: .seconds(10))
                    outcomes.withLockedValue { $0.append(("id-\(index)", .ok)) }
                } catch let status as GRPCStatus {
                    outcomes.withLockedValue { $0.append(("id-\(index)", status.code)) }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let results = results(outcomes)
            let failures = results.filter { $0.status != .ok }
            #expect(!failures.isEmpty, "no send met the outage")
            #expect(failures.allSatisfy { $0.status == .unavailable }, "\(failures.map(\.status))")
            #expect(results.suffix(20).allSatisfy { $0.status == .ok }, "the service did not resume: \(results.suffix(20).map(\.status))")
            // Stored: every acknowledged send, once each, in order, seq with no gap.
            let stored = try await DurableChatTests.recent(alice, limit: 1000)
            let acknowledged = results.filter { $0.status == .ok }.map { "m" + $0.id.dropFirst(3) }
            #expect(Set(acknowledged).isSubset(of: Set(stored.map(\.message))))
            #expect(Set(stored.map(\.message)).count == stored.count, "a message was stored twice")
            #expect(stored.map(\.seq) == Array(1...Int64(stored.count)))
            await alice.close()
        }
    }
}

extension DurableChatTests {
    /// A member whose client went away while its room was down (here: the whole process
    /// restarted) is dropped at the room's next push: the gate no longer has the client
    /// and says so, and the room records the departure.
    @Test func membersWhoseClientLeftWhileTheRoomWasDownAreDroppedAtItsNextPush() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/chat.sqlite"
        var departed = ""
        var alice: GateTestClient?
        try await Self.withChat(store: path) { port in
            let client = try await GateTestClient.connect(port: port, user: "alice", password: "000000")
            _ = try await Self.join(client)
            departed = client.clientID
            alice = client // still connected when the process stops: its rooms are gone first
        }
        await alice?.close()
        do {
            let store = try SQLiteObjectStore(path: path)
            let events = try await Self.events(store)
            await store.close()
            #expect(!events.contains { $0.left == departed }, "the departure was recorded before the restart")
        }
        try await Self.withChat(store: path) { port in
            let bob = try await GateTestClient.connect(port: port, user: "bob", password: "000000")
            _ = try await Self.join(bob)
            try await Self.send(bob, "anyone here?")
            _ = try await bob.nextPushes(1, as: Chat_Client_NewMessageNotification.self)
            // The departure is written by the room; wait until it is stored.
            let deadline = ContinuousClock.now + .seconds(30)
            var left = false
            while !left && ContinuousClock.now < deadline {
                let store = try SQLiteObjectStore(path: path)
                let events = try await Self.events(store)
                await store.close()
                left = events.contains { $0.left == departed }
                if !left { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(left, "the room still counts \(departed) as a member")
            await bob.close()
        }
    }

    /// General's journal, as stored (read without taking the room from its node).
    static func events(_ store: SQLiteObjectStore) async throws -> [Chat_ChatRoomEvent] {
        let entries = try await store.entries(of: ObjectKey(type: "ChatRoom", id: Chat.roomID("General")), after: 0, limit: 10_000)
        return try entries.map { try ProtoAny(serializedBytes: $0.bytes).unpack(Chat_ChatRoomEvent.self) }
    }
}
