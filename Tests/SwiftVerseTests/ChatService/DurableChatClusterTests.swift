import ChatService
import NIOConcurrencyHelpers
import Testing
import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// Chat nodes on a real PostgreSQL and a real etcd, as separate processes, under faults.
@Suite("chat on PostgreSQL: a cluster under faults loses nothing", .serialized)
struct DurableChatClusterTests {
    static let chatCalls = ["--allow", "ChatRoom/Join", "--allow", "ChatRoom/SendMessage", "--allow", "ChatRoom/GetRecentMessages",
                            "--allow-public", "ChatRoomMgr/ListChatRooms"]
    static let room = Chat.roomID("General")

    static func join(_ client: GateTestClient) async throws {
        let _: Chat_ChatRoom_JoinResponse = try await client.call("ChatRoom", room, "Join", Chat_ChatRoom_JoinRequest())
    }

    static func messages(_ client: GateTestClient, after seq: Int64, limit: Int32 = 1000) async throws -> [Chat_ChatMessage] {
        var request = Chat_ChatRoom_GetRecentMessagesRequest()
        request.afterSeq = seq
        request.limit = limit
        let response: Chat_ChatRoom_GetRecentMessagesResponse = try await client.call("ChatRoom", room, "GetRecentMessages", request)
        return response.messages
    }

    /// Sends `text` with `id` until it is acknowledged (the same id every time, so a
    /// send that was stored but not answered is not stored twice).
    static func sendUntilAcknowledged(_ client: GateTestClient, _ text: String, id: String) async throws {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.message = text
        request.messageId = id
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                let _: Chat_Client_SendChatMessageResponse = try await client.call("ChatRoom", room, "SendMessage", request,
                                                                                  timeout: .seconds(5))
                return
            } catch let status as GRPCStatus where ContinuousClock.now < deadline
                && [.unavailable, .deadlineExceeded, .aborted].contains(status.code) {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// What a member shows, as the chat CLI does it: pushes in seq order, a jump in seq
    /// filled from `after_seq` first, anything seen already skipped.
    final class Member: @unchecked Sendable {
        // @unchecked: used by one task at a time.
        let client: GateTestClient
        private(set) var shown: [Chat_ChatMessage] = []
        private(set) var pushedSeqs: [Int64] = []
        var lastSeq: Int64 { shown.last?.seq ?? 0 }
        init(_ client: GateTestClient) { self.client = client }

        /// Reads pushes until `seq` has been shown.
        func read(through seq: Int64, timeout: Duration = .seconds(60)) async throws {
            let deadline = ContinuousClock.now + timeout
            while lastSeq < seq && ContinuousClock.now < deadline {
                guard let push = try await client.nextPushes(1, as: Chat_Client_NewMessageNotification.self,
                                                             timeout: deadline - ContinuousClock.now).first?.message else { continue }
                pushedSeqs.append(push.seq)
                guard push.seq > lastSeq else { continue }
                if push.seq > lastSeq + 1 {
                    shown += try await messages(client, after: lastSeq, limit: Int32(push.seq - lastSeq - 1))
                }
                shown.append(push)
            }
        }
    }

    /// A PostgreSQL, an etcd, two chat nodes on the store, a gate, and two clients in
    /// General: a member who only listens and a sender.
    struct Setup {
        let postgres: PostgresProcess
        let cluster: ClusterHarness
        let member: Member
        let sender: GateTestClient
        let gate: Int

        /// Each node reaches etcd through a relay of its own (to cut it off with).
        let relays: [Int: TCPRelay]

        init() async throws {
            postgres = try PostgresProcess()
            cluster = try ClusterHarness()
            var relays: [Int: TCPRelay] = [:]
            for _ in 0..<2 {
                let relay = try TCPRelay(to: cluster.etcd.clientPort)
                let port = try cluster.startNode(["--store", postgres.url()], executable: "chat-server",
                                                 etcdEndpoint: "127.0.0.1:\(relay.port)")
                relays[port] = relay
            }
            self.relays = relays
            gate = try cluster.startGate(DurableChatClusterTests.chatCalls)
            try await cluster.waitReady(port: gate, nodes: 2)
            member = Member(try await GateTestClient.connect(port: gate, user: "member"))
            try await DurableChatClusterTests.join(member.client)
            sender = try await GateTestClient.connect(port: gate, user: "sender")
            try await DurableChatClusterTests.join(sender)
        }
    }

    @Test func aKilledRoomNodeLosesNoAcknowledgedMessageAndAConnectedMemberMissesNone() async throws {
        let setup = try await Setup()
        let (cluster, member, sender) = (setup.cluster, setup.member, setup.sender)
        let victim = try #require(try await cluster.owner(of: Self.room))

        let count = 60
        for index in 0..<count {
            if index == count / 3 { cluster.kill(node: victim) } // mid-stream, no goodbye
            try await Self.sendUntilAcknowledged(sender, "m\(index)", id: "id-\(index)")
        }
        // A last message after the dust settles: a member that lost pushes sees the gap.
        try await Self.sendUntilAcknowledged(sender, "done", id: "done")
        #expect(try await cluster.owner(of: Self.room) != victim)

        // Every acknowledged message is stored, once, in order, with no gap in seq.
        var history: [Chat_ChatMessage] = []
        while true {
            let page = try await Self.messages(sender, after: history.last?.seq ?? 0)
            if page.isEmpty { break }
            history += page
        }
        #expect(history.map(\.message) == (0..<count).map { "m\($0)" } + ["done"])
        #expect(history.map(\.seq) == Array(1...Int64(count + 1)))

        // The member, connected throughout, is shown each exactly once, and was never
        // pushed a message twice.
        try await member.read(through: Int64(count + 1))
        #expect(member.shown.map(\.message) == history.map(\.message))
        #expect(Set(member.pushedSeqs).count == member.pushedSeqs.count, "pushed twice: \(member.pushedSeqs)")
        await member.client.close()
        await sender.close()
        cluster.stopAll()
    }
}

extension DurableChatClusterTests {
    /// Waits until `objectID`'s shard has an owner other than `port`.
    static func waitForMove(_ cluster: ClusterHarness, _ objectID: String, from port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let owner = try await cluster.owner(of: objectID), owner != port { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("\(objectID) did not move off \(port)")
    }

    /// Sends `count` messages ("stale 1"...) straight to the node on `port`; returns how
    /// many it acknowledged.
    static func directSendsAcknowledged(_ count: Int, by port: Int, _ cluster: ClusterHarness,
                                        _ sender: GateTestClient) async -> Int {
        var acknowledged = 0
        for index in 1...count {
            if (try? await sendDirectly(to: port, secret: cluster.secret, "stale \(index)", as: sender, user: "sender")) != nil {
                acknowledged += 1
            }
        }
        return acknowledged
    }

    /// SendMessage straight to a node, as a gate with a stale map would send it.
    static func sendDirectly(to port: Int, secret: String, _ text: String, as client: GateTestClient, user: String) async throws {
        let node = try GRPCClient(host: "127.0.0.1", port: port)
        defer { Task { await node.close() } }
        var send = Chat_ChatRoom_SendChatMessageRequest()
        send.message = text
        send.messageId = text
        var request = Verse_NodeCallRequest()
        request.type = "ChatRoom"
        request.id = room
        request.method = "SendMessage"
        request.request = ProtoAny(packing: send)
        var caller = Verse_Caller()
        caller.clientId = client.clientID
        caller.user = user
        request.caller = caller
        let _: Verse_NodeCallResponse = try await node.unary("/verse.NodeService/CallObject", request: request,
                                                            metadata: Metadata([("x-verse-cluster-secret", secret)]), timeout: .seconds(5))
    }

    /// The history is exactly what the room's current owners acknowledged (none of what
    /// was sent to the stale node), and the member was shown it, and pushed nothing else.
    static func expectOnlyTheMovedRoomsMessages(_ setup: Setup) async throws {
        let history = try await messages(setup.sender, after: 0)
        #expect(history.map(\.message) == ["before", "moved 1", "moved 2", "moved 3", "after"])
        #expect(history.map(\.seq) == [1, 2, 3, 4, 5])
        try await setup.member.read(through: 5)
        #expect(setup.member.shown.map(\.message) == history.map(\.message))
        #expect(setup.member.pushedSeqs.allSatisfy { (1...5).contains($0) }, "pushed: \(setup.member.pushedSeqs)")
        await setup.member.client.close()
        await setup.sender.close()
        setup.cluster.stopAll()
    }

    /// A node frozen past its lease while its room moved and took messages elsewhere:
    /// once it runs again, whatever it is asked to write is refused, and nobody is
    /// pushed a message that is not in the final history.
    @Test func aNodePausedPastItsLeaseCannotWriteAfterItsRoomMoved() async throws {
        let setup = try await Setup()
        let (cluster, sender) = (setup.cluster, setup.sender)
        try await Self.sendUntilAcknowledged(sender, "before", id: "before")
        let stale = try #require(try await cluster.owner(of: Self.room))

        cluster.pause(node: stale)
        try await Self.waitForMove(cluster, Self.room, from: stale)
        for index in 1...3 { try await Self.sendUntilAcknowledged(sender, "moved \(index)", id: "moved-\(index)") }
        cluster.resume(node: stale)
        let acknowledged = await Self.directSendsAcknowledged(5, by: stale, cluster, sender)
        #expect(acknowledged == 0, "the stale node acknowledged \(acknowledged) writes")
        try await Self.sendUntilAcknowledged(sender, "after", id: "after")

        try await Self.expectOnlyTheMovedRoomsMessages(setup)
    }

    /// A node cut off from etcd alone keeps serving with its last map (as every node
    /// does while etcd is away), so it still holds the room when the others have moved
    /// it: the store's epoch check is what refuses its writes. It drops the room, the
    /// calls fail, nothing it was sent is stored or pushed.
    @Test func aNodeCutOffFromEtcdHasEveryWriteRefusedByTheStoreOnceItsRoomMoved() async throws {
        let setup = try await Setup()
        let (cluster, sender) = (setup.cluster, setup.sender)
        try await Self.sendUntilAcknowledged(sender, "before", id: "before")
        let cutOff = try #require(try await cluster.owner(of: Self.room))

        setup.relays[cutOff]?.cut()
        try await Self.waitForMove(cluster, Self.room, from: cutOff)
        for index in 1...3 { try await Self.sendUntilAcknowledged(sender, "moved \(index)", id: "moved-\(index)") }
        let acknowledged = await Self.directSendsAcknowledged(3, by: cutOff, cluster, sender)
        #expect(acknowledged == 0, "the cut-off node acknowledged \(acknowledged) writes")
        #expect(cluster.log(node: cutOff).contains("dropped ChatRoom/\(Self.room) after a failed write"),
                "the refusal came from the store's epoch check")
        setup.relays[cutOff]?.restore()
        try await Self.sendUntilAcknowledged(sender, "after", id: "after")

        try await Self.expectOnlyTheMovedRoomsMessages(setup)
    }

    /// Every node and the gate stop (SIGTERM) and start again on the same store: the
    /// rooms come back with their whole history and seq goes on from where it was.
    @Test func aFullRestartOfTheClusterKeepsEveryRoomsHistory() async throws {
        let setup = try await Setup()
        let cluster = setup.cluster
        for index in 1...10 { try await Self.sendUntilAcknowledged(setup.sender, "m\(index)", id: "m-\(index)") }
        await setup.sender.close()
        await setup.member.client.close()
        cluster.terminate(gate: setup.gate)
        for port in setup.relays.keys { cluster.terminate(node: port) }

        for (port, relay) in setup.relays {
            try cluster.startNode(port: port, ["--store", setup.postgres.url()], executable: "chat-server",
                                  etcdEndpoint: "127.0.0.1:\(relay.port)")
        }
        let gate = try cluster.startGate(port: setup.gate, Self.chatCalls)
        try await cluster.waitReady(port: gate, nodes: 2)
        let reader = try await GateTestClient.connect(port: gate, user: "reader")
        try await Self.join(reader)
        let history = try await Self.messages(reader, after: 0)
        #expect(history.map(\.message) == (1...10).map { "m\($0)" })
        try await Self.sendUntilAcknowledged(reader, "after the restart", id: "after")
        #expect(try await Self.messages(reader, after: 10).map(\.seq) == [11])
        await reader.close()
        cluster.stopAll()
    }
}
