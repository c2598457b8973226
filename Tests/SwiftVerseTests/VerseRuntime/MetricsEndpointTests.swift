import ChatService
import Foundation
import Testing
import VerseProtobuf

/// `GET /metrics` on a real chat-server: Prometheus text with the runtime's metrics,
/// counts that follow what clients did, and no object or client ids in any label.
@Suite("operations: Prometheus metrics (a real process)", .serialized)
struct MetricsEndpointTests {
    /// The value of the sample `name{labels}` (exactly as exposed), if present.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// A `chat-server --embedded` with its HTTP port, once it is ready.
    static func startChatServer(_ extra: [String] = []) async throws -> (process: Process, grpc: Int, http: Int) {
        let grpc = ClusterHarness.freshPort(), http = ClusterHarness.freshPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chat-server")
        process.arguments = ["--embedded", "--listen", "127.0.0.1:\(grpc)", "--http-listen", "127.0.0.1:\(http)", "--store", "none",
                             "--log-level", "warning"] + extra
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, (try? HTTPProbe.get(port: http, path: "/ready").status) != 200 {
            try await Task.sleep(for: .milliseconds(50))
        }
        return (process, grpc, http)
    }

    static func stop(_ process: Process) {
        process.terminate()
        process.waitUntilExit()
    }

    @Test func withNoMetricsNothingIsServedAtMetrics() async throws {
        let (process, _, http) = try await Self.startChatServer(["--no-metrics"])
        defer { Self.stop(process) }
        let scrape = try HTTPProbe.get(port: http, path: "/metrics")
        #expect(scrape.status == 404, "\(scrape)")
        #expect(try HTTPProbe.get(port: http, path: "/ready").status == 200)
    }

    @Test func metricsFollowTheTrafficAndLabelsHaveNoIDs() async throws {
        let (process, grpc, http) = try await Self.startChatServer()
        defer { Self.stop(process) }
        let alice = try await GateTestClient.connect(port: grpc, user: "alice", password: "000000")
        let _: Chat_ChatRoom_JoinResponse = try await alice.call("ChatRoom", Chat.roomID("General"), "Join", Chat_ChatRoom_JoinRequest())
        for index in 0..<10 {
            var send = Chat_ChatRoom_SendChatMessageRequest()
            send.message = "m\(index)"
            let _: Chat_Client_SendChatMessageResponse = try await alice.call("ChatRoom", Chat.roomID("General"), "SendMessage", send)
        }
        _ = try await alice.nextPushes(10, as: Chat_Client_NewMessageNotification.self)
        var unknown = Chat_ChatRoom_JoinRequest()
        unknown.afterSeq = -1
        _ = try? await alice.call("ChatRoom", Chat.roomID("General"), "Join", unknown) as Chat_ChatRoom_JoinResponse

        let scrape = try HTTPProbe.get(port: http, path: "/metrics")
        #expect(scrape.status == 200)
        let text = scrape.body
        let calls = #"swiftverse_grpc_server_calls_total{service="gate.GateService",method="CallObject",code="OK"}"#
        #expect((Self.sample(text, calls) ?? 0) >= 11, "\(text.prefix(2000))")
        #expect(Self.sample(text, #"swiftverse_grpc_server_calls_total{service="gate.GateService",method="CallObject",code="INVALID_ARGUMENT"}"#) == 1)
        #expect((Self.sample(text, #"swiftverse_grpc_server_call_duration_seconds_count{service="gate.GateService",method="CallObject"}"#) ?? 0) >= 12)
        #expect((Self.sample(text, "swiftverse_gate_pushes_delivered_total") ?? 0) >= 10)
        #expect(Self.sample(text, #"swiftverse_gate_clients{transport="grpc"}"#) == 1)
        #expect(Self.sample(text, #"swiftverse_node_activations_total{type="ChatRoom"}"#) != nil)
        #expect(Self.sample(text, "swiftverse_cluster_leader") == 1)
        #expect(Self.sample(text, #"swiftverse_node_object_calls_total{type="ChatRoom",method="SendMessage",outcome="ok"}"#) == 10)
        #expect(Self.sample(text, #"swiftverse_node_object_calls_total{type="ChatRoom",method="Join",outcome="error"}"#) == 1)
        #expect(Self.sample(text, #"swiftverse_node_object_call_duration_seconds_count{type="ChatRoom",method="SendMessage"}"#) == 10)
        #expect((Self.sample(text, "swiftverse_grpc_server_connections") ?? 0) >= 1)
        // Every message's fan-out timed from the SendMessage's arrival at the room.
        #expect((Self.sample(text, #"swiftverse_gate_fanout_duration_seconds_count{from="call"}"#) ?? 0) >= 10)
        #expect(Self.sample(text, #"swiftverse_node_active_objects{type="ChatRoom"}"#) == 5) // the predefined rooms
        #expect(Self.sample(text, #"swiftverse_node_active_objects{type="ChatRoomMgr"}"#) == 1)
        #expect(Self.sample(text, "swiftverse_node_mailbox_calls") == 0) // nothing running now
        #expect(Self.sample(text, "swiftverse_node_mailbox_max_depth") == 0)
        #expect(Self.sample(text, "swiftverse_coordination_session_up") == 1)
        #expect((Self.sample(text, "swiftverse_http2_streams_open") ?? 0) >= 1) // alice's Register stream
        #expect((Self.sample(text, "swiftverse_http2_queued_data_bytes") ?? -1) >= 0)
        #expect((Self.sample(text, "swiftverse_http2_received_bytes_total") ?? 0) > 1000)
        #expect((Self.sample(text, "swiftverse_http2_sent_bytes_total") ?? 0) > 1000)
        #expect((Self.sample(text, "swiftverse_http_connections") ?? 0) >= 1) // this scrape's
        #expect((Self.sample(text, "swiftverse_cluster_seconds_since_map_change") ?? -1) >= 0)
        #expect(Self.sample(text, "swiftverse_process_ready") == 1)
        #expect((Self.sample(text, "swiftverse_process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect(Self.sample(text, "swiftverse_process_cpu_seconds_total") != nil)
        #expect((Self.sample(text, "swiftverse_process_open_fds") ?? 0) > 3)
        // Bounded labels: no object ids, no client ids.
        #expect(!text.contains("ChatRoom-General"))
        #expect(!text.contains(alice.clientID))
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.hasPrefix("swiftverse_"), "\(line)")
        }
        await alice.close()
    }

    /// Pushes a client leaves unread show as queued bytes on the gate, and go when it does.
    @Test func unreadPushesShowAsQueuedBytesUntilTheirClientLeaves() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let http = ClusterHarness.freshPort()
        // A limit high enough that the staller is never cut off: it leaves by itself.
        let gate = try cluster.startGate(httpListen: "127.0.0.1:\(http)", ["--max-queued-push-bytes", "\(64 << 20)"])
        try cluster.startNode()
        try await cluster.waitReady(port: gate, nodes: 1)
        let queued = { () throws -> Double in
            Self.sample(try HTTPProbe.get(port: http, path: "/metrics").body, "swiftverse_http2_queued_data_bytes") ?? -1
        }
        let clients = try await StalledReader.subscribe(port: gate)
        _ = try await clients.publish3MiB() // 1 MiB fills the staller's receive window, the rest waits at the gate
        #expect(try await ProcessHealthTests.waitFor { try queued() >= Double(1 << 20) }, "queued: \((try? queued()) ?? -1)")
        clients.staller.close()
        await clients.staller.grpc.close()
        #expect(try await ProcessHealthTests.waitFor { try queued() == 0 }, "queued: \((try? queued()) ?? -1)")
        await clients.close()
    }
}
