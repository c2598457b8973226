import Foundation
import Testing
import VerseGRPC
import VerseProtobuf

/// The runtime as separate processes: etcd, nodes and gates on loopback.
@Suite("runtime cluster (real processes, real etcd)", .serialized)
struct RuntimeClusterTests {
    static func add(_ delta: Int64) -> Verse_Test_CounterRequest {
        var request = Verse_Test_CounterRequest()
        request.delta = delta
        return request
    }

    @Test func callsReachTheOwningNodeAndPushesCrossGates() async throws {
        let cluster = try ClusterHarness()
        let nodeA = try cluster.startNode(), nodeB = try cluster.startNode()
        let gate1 = try cluster.startGate(), gate2 = try cluster.startGate()
        try await cluster.waitReady(port: gate1, nodes: 2)
        try await cluster.waitReady(port: gate2, nodes: 2)

        let alice = try await GateTestClient.connect(port: gate1, user: "alice")
        let bob = try await GateTestClient.connect(port: gate2, user: "bob")
        var servedBy = Set<String>()
        for index in 0..<40 {
            let response: Verse_Test_CounterResponse = try await alice.call("Counter", "c\(index)", "Add", Self.add(1))
            servedBy.insert(response.node)
            #expect(response.callerUser == "alice")
        }
        #expect(servedBy == ["127.0.0.1:\(nodeA)", "127.0.0.1:\(nodeB)"], "objects live on every node")
        // The same object from the other gate: same state, same node.
        let again: Verse_Test_CounterResponse = try await bob.call("Counter", "c7", "Add", Self.add(10))
        #expect(again.value == 11)

        let _: Verse_Test_SubscribeResponse = try await alice.call("Channel", "room", "Subscribe", Verse_Test_SubscribeRequest())
        let _: Verse_Test_SubscribeResponse = try await bob.call("Channel", "room", "Subscribe", Verse_Test_SubscribeRequest())
        var publish = Verse_Test_PublishRequest()
        publish.text = "across gates"
        publish.count = 20
        let _: Verse_Test_PublishResponse = try await bob.call("Channel", "room", "Publish", publish)
        for client in [alice, bob] {
            let notes = try await client.nextPushes(20, as: Verse_Test_Note.self)
            #expect(notes.map(\.sequence) == Array(0..<20))
        }
        await alice.close()
        await bob.close()
        cluster.stopAll()
    }

    @Test func aKilledNodesObjectsAnswerAgainWithinThreeSeconds() async throws {
        let cluster = try ClusterHarness()
        let ports = try (0..<3).map { _ in try cluster.startNode() }
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 3)
        let client = try await GateTestClient.connect(port: gate)

        // Find an object on the node we are about to kill.
        let victim = "127.0.0.1:\(ports[1])"
        var id = ""
        for index in 0..<200 {
            let response: Verse_Test_CounterResponse = try await client.call("Counter", "k\(index)", "Add", Self.add(1))
            if response.node == victim { id = "k\(index)"; break }
        }
        #expect(!id.isEmpty)
        cluster.kill(node: ports[1])
        let killed = ContinuousClock.now
        let response: Verse_Test_CounterResponse = try await client.call("Counter", id, "Add", Self.add(1), timeout: .seconds(10))
        let recovery = ContinuousClock.now - killed
        print("failover: calls to a kill -9'd node's object succeeded again after \(recovery)")
        #expect(response.node != victim)
        #expect(recovery < .seconds(3), "recovery took \(recovery)")
        try await cluster.waitReady(port: gate, nodes: 2)
        await client.close()
        cluster.stopAll()
    }

    /// Calls in a loop until `stop` is set; returns (succeeded, failures).
    static func callLoop(_ client: GateTestClient, stop: ManagedFlag) async -> (Int, [String]) {
        var ok = 0
        var failures: [String] = []
        var index = 0
        while !stop.isSet {
            do {
                let _: Verse_Test_CounterResponse = try await client.call("Counter", "loop\(index % 64)", "Add", add(1), timeout: .seconds(10))
                ok += 1
            } catch {
                failures.append("\(error)")
            }
            index += 1
        }
        return (ok, failures)
    }

    @Test func aJoiningNodeTakesShardsAndAGracefulExitHandsThemOverWithoutFailedCalls() async throws {
        let cluster = try ClusterHarness()
        let first = try cluster.startNode(), second = try cluster.startNode()
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 2)
        let client = try await GateTestClient.connect(port: gate)
        let stop = ManagedFlag()
        let load = Task { await Self.callLoop(client, stop: stop) }

        try await Task.sleep(for: .milliseconds(300))
        let third = try cluster.startNode()
        try await cluster.waitReady(port: gate, nodes: 3)
        for _ in 0..<300 where try await cluster.status(port: third).shardsServed == 0 {
            try await Task.sleep(for: .milliseconds(100))
        }
        let share = try await cluster.status(port: third).shardsServed
        #expect(share > 0, "the joining node took no shards")

        cluster.terminate(node: first) // graceful: hands its shards over, then exits
        try await cluster.waitReady(port: gate, nodes: 2)
        try await Task.sleep(for: .milliseconds(500))
        stop.set()
        let (ok, failures) = await load.value
        print("join + graceful exit under load: \(ok) calls, \(failures.count) failed; joiner took \(share) shards")
        #expect(ok > 50)
        #expect(failures.isEmpty, "failed calls: \(failures.prefix(3))")
        let second2 = try await cluster.status(port: second).shardsServed, third2 = try await cluster.status(port: third).shardsServed
        #expect(second2 + third2 == Int32(cluster.shards))
        await client.close()
        cluster.stopAll()
    }

    /// When a joining node takes shards, or a node leaves gracefully, the objects' state
    /// goes with their shards (`handOff` on the node giving them up, `restore` where
    /// they activate next).
    @Test func objectsKeepTheirStateWhenTheirShardMovesByAJoinOrAGracefulExit() async throws {
        let cluster = try ClusterHarness()
        let firstHTTP = ClusterHarness.freshPort(), joinerHTTP = ClusterHarness.freshPort()
        let first = try cluster.startNode(["--http-listen", "127.0.0.1:\(firstHTTP)"])
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 1)
        let client = try await GateTestClient.connect(port: gate)
        let ids = (0..<64).map { "carried\($0)" }
        for id in ids {
            let _: Verse_Test_CounterResponse = try await client.call("Counter", id, "Add", Self.add(5))
        }
        let joiner = try cluster.startNode(["--http-listen", "127.0.0.1:\(joinerHTTP)"])
        try await cluster.waitReady(port: gate, nodes: 2)
        var moved = 0
        for id in ids {
            let response: Verse_Test_CounterResponse = try await client.call("Counter", id, "Add", Self.add(1))
            #expect(response.value == 6, "\(id) on \(response.node) counted from \(response.value - 1), not 5")
            if response.node == "127.0.0.1:\(joiner)" { moved += 1 }
        }
        #expect(moved > 0, "no counter moved to the joining node")
        // The move in the metrics of both sides.
        let given = try HTTPProbe.get(port: firstHTTP, path: "/metrics").body
        let taken = try HTTPProbe.get(port: joinerHTTP, path: "/metrics").body
        let joinerShards = Double(try await cluster.status(port: joiner).shardsServed)
        #expect(MetricsEndpointTests.sample(given, "swiftverse_node_shards_released_total") == joinerShards)
        #expect(MetricsEndpointTests.sample(taken, "swiftverse_node_shards_claimed_total") == joinerShards)
        #expect(MetricsEndpointTests.sample(given, #"swiftverse_node_deactivations_total{type="Counter",reason="shard_moved"}"#) == Double(moved))
        #expect(MetricsEndpointTests.sample(given, #"swiftverse_node_handed_over_objects_total{direction="sent"}"#) == Double(moved))
        #expect(MetricsEndpointTests.sample(taken, #"swiftverse_node_handed_over_objects_total{direction="received"}"#) == Double(moved))

        cluster.terminate(node: first) // graceful: its counters go to the joiner
        try await cluster.waitReady(port: gate, nodes: 1)
        for id in ids {
            let response: Verse_Test_CounterResponse = try await client.call("Counter", id, "Add", Self.add(1))
            #expect(response.value == 7, "\(id) counted from \(response.value - 1), not 6, after the graceful exit")
        }
        await client.close()
        cluster.stopAll()
    }

    /// The chat rooms that move to a joining node keep their history and members: a
    /// member still gets the room's pushes without joining again.
    @Test func chatRoomsKeepHistoryAndMembersWhenAJoiningNodeTakesThem() async throws {
        let cluster = try ClusterHarness()
        try cluster.startNode(executable: "chat-server")
        let chatCalls = ["Join", "SendMessage", "GetRecentMessages"].flatMap { ["--allow", "ChatRoom/\($0)"] }
        let gate = try cluster.startGate(chatCalls)
        try await cluster.waitReady(port: gate, nodes: 1)
        let alice = try await GateTestClient.connect(port: gate, user: "alice")
        let rooms = ["General", "Technology", "Crypto", "Sports", "Movies"]
        for room in rooms {
            let _: Chat_ChatRoom_JoinResponse = try await alice.call("ChatRoom", "ChatRoom-\(room)", "Join", Chat_ChatRoom_JoinRequest())
            var request = Chat_ChatRoom_SendChatMessageRequest()
            request.message = "before the move in \(room)"
            let _: Chat_Client_SendChatMessageResponse = try await alice.call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
        }
        _ = try await alice.nextPushes(rooms.count, as: Chat_Client_NewMessageNotification.self)

        try cluster.startNode(executable: "chat-server")
        try await cluster.waitReady(port: gate, nodes: 2) // rooms on the moved shards now live on the joiner
        for room in rooms {
            let recent: Chat_ChatRoom_GetRecentMessagesResponse =
                try await alice.call("ChatRoom", "ChatRoom-\(room)", "GetRecentMessages", Chat_ChatRoom_GetRecentMessagesRequest())
            #expect(recent.messages.map(\.message) == ["before the move in \(room)"], "\(room) lost its history")
            var request = Chat_ChatRoom_SendChatMessageRequest()
            request.message = "after the move in \(room)"
            let _: Chat_Client_SendChatMessageResponse = try await alice.call("ChatRoom", "ChatRoom-\(room)", "SendMessage", request)
            let pushes = try await alice.nextPushes(1, as: Chat_Client_NewMessageNotification.self)
            #expect(pushes.map { $0.message?.message ?? "" } == ["after the move in \(room)"], "\(room) forgot its members")
        }
        await alice.close()
        cluster.stopAll()
    }

    /// A node's NodeService takes calls only with the cluster secret (its objects would
    /// otherwise be open to anyone who can reach the port, as any user); Admin stays open.
    @Test func nodesRefuseNodeServiceCallsWithoutTheClusterSecret() async throws {
        let cluster = try ClusterHarness()
        let node = try cluster.startNode()
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 1)
        let direct = try GRPCClient(host: "127.0.0.1", port: node)
        for metadata in [Metadata(), Metadata([("x-verse-cluster-secret", "guess")])] {
            await #expect(throws: GRPCStatus(.unauthenticated,
                                             "x-verse-cluster-secret missing or wrong: this node takes calls only from its cluster")) {
                let _: Verse_DescribeResponse = try await direct.unary("/verse.NodeService/Describe", request: Verse_DescribeRequest(),
                                                                       metadata: metadata, timeout: .seconds(5))
            }
        }
        let described: Verse_DescribeResponse = try await direct.unary(
            "/verse.NodeService/Describe", request: Verse_DescribeRequest(),
            metadata: Metadata([("x-verse-cluster-secret", cluster.secret)]), timeout: .seconds(5))
        #expect(described.types.map(\.name).contains("Counter"))
        #expect(try await cluster.status(port: node).ready) // Admin needs no secret
        // The gate, which has the secret, still reaches the node's objects.
        let client = try await GateTestClient.connect(port: gate)
        let _: Verse_Test_CounterResponse = try await client.call("Counter", "secret-ok", "Add", Self.add(1))
        await client.close()
        await direct.close()
        cluster.stopAll()
    }

    /// A cluster whose etcd serves TLS: every process reaches it with `--etcd-ca`.
    @Test func aClusterWorksWithAnEtcdServingTLS() async throws {
        let cluster = try ClusterHarness(etcdTLS: true)
        try cluster.startNode()
        try cluster.startNode()
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 2)
        let client = try await GateTestClient.connect(port: gate)
        let response: Verse_Test_CounterResponse = try await client.call("Counter", "etcd-tls", "Add", Self.add(3))
        #expect(response.value == 3)
        await client.close()
        cluster.stopAll()
    }

    /// Nodes that serve TLS are reached over TLS by gates and other nodes (`--tls-ca`),
    /// and a gate without the CA cannot reach them.
    @Test func nodesServingTLSAreReachedOverTLS() async throws {
        let cluster = try ClusterHarness()
        let certs = try cluster.makeCertificates()
        let tls = ["--tls-cert", certs.certificate, "--tls-key", certs.key, "--tls-ca", certs.ca]
        try cluster.startNode(tls)
        try cluster.startNode(tls)
        let gate = try cluster.startGate(["--tls-ca", certs.ca])
        try await cluster.waitReady(port: gate, nodes: 2)
        let client = try await GateTestClient.connect(port: gate)
        for index in 0..<16 { // ids spread over both nodes
            let _: Verse_Test_CounterResponse = try await client.call("Counter", "tls\(index)", "Add", Self.add(1))
        }
        let _: Verse_Test_SubscribeResponse = try await client.call("Channel", "tls-room", "Subscribe", Verse_Test_SubscribeRequest())
        var publish = Verse_Test_PublishRequest()
        publish.text = "over TLS"
        let _: Verse_Test_PublishResponse = try await client.call("Channel", "tls-room", "Publish", publish)
        let notes = try await client.nextPushes(1, as: Verse_Test_Note.self)
        #expect(notes.map(\.text) == ["over TLS"]) // the push stream from the node is TLS too
        await client.close()

        let plain = try cluster.startGate() // no CA: speaks cleartext to TLS nodes
        for _ in 0..<300 where (try? await cluster.status(port: plain))?.ready != true {
            try await Task.sleep(for: .milliseconds(100))
        }
        let stranger = try await GateTestClient.connect(port: plain)
        await #expect(throws: GRPCStatus.self) {
            let _: Verse_Test_CounterResponse = try await stranger.call("Counter", "tls0", "Add", Self.add(1), timeout: .seconds(2))
        }
        await stranger.close()
        cluster.stopAll()
    }

    @Test func theClusterKeepsServingWhileEtcdIsDownAndRecoversAfter() async throws {
        let cluster = try ClusterHarness()
        try cluster.startNode()
        try cluster.startNode()
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 2)
        let client = try await GateTestClient.connect(port: gate)

        cluster.etcd.stop()
        for index in 0..<30 { // about three seconds without etcd
            let _: Verse_Test_CounterResponse = try await client.call("Counter", "outage\(index % 8)", "Add", Self.add(1))
            try await Task.sleep(for: .milliseconds(100))
        }
        try cluster.etcd.start()
        // Membership comes back; a node that joins now is admitted.
        let late = try cluster.startNode()
        try await cluster.waitReady(port: gate, nodes: 3, timeout: .seconds(30))
        let _: Verse_Test_CounterResponse = try await client.call("Counter", "after-outage", "Add", Self.add(1))
        _ = late
        await client.close()
        cluster.stopAll()
    }
}

/// A flag one task sets and another polls.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
