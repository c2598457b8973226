import Foundation
import Testing
import VerseGRPC
import VerseProtobuf

/// Readiness as probes see it (GET /ready, grpc.health.v1.Health/Check), on real
/// processes: a gate without nodes is not ready, with one it is.
@Suite("runtime: health and readiness (real processes)", .serialized)
struct ProcessHealthTests {
    static func check(_ port: Int, service: String = "") async throws -> Grpc_Health_V1_HealthCheckResponse_ServingStatus {
        let client = try GRPCClient(host: "127.0.0.1", port: port)
        defer { Task { await client.close() } }
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = service
        let response: Grpc_Health_V1_HealthCheckResponse = try await client.unary("/grpc.health.v1.Health/Check", request: request,
                                                                                    timeout: .seconds(2))
        return response.status
    }

    static func waitFor(_ condition: () async throws -> Bool, timeout: Duration = .seconds(60)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func aGateIsReadyOnlyWithALiveNode() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let http = ClusterHarness.freshPort()
        let gate = try cluster.startGate(httpListen: "127.0.0.1:\(http)")
        #expect(try await Self.waitFor { try HTTPProbe.get(port: http, path: "/healthz").status == 200 })
        let notReady = try HTTPProbe.get(port: http, path: "/ready")
        #expect(notReady.status == 503, "\(notReady)")
        #expect(notReady.body.contains("NOT_READY"), "\(notReady.body)")
        #expect(try await Self.check(gate) == .notServing)

        let node = try cluster.startNode()
        try await cluster.waitReady(port: gate, nodes: 1)
        #expect(try await Self.waitFor { try HTTPProbe.get(port: http, path: "/ready").status == 200 })
        #expect(try await Self.check(gate) == .serving)
        #expect(try await Self.check(gate, service: "gate.GateService") == .serving)
        #expect(try await Self.waitFor { try await Self.check(node) == .serving })
        #expect(try await Self.check(node, service: "verse.NodeService") == .serving)
        await #expect(throws: GRPCStatus.self) { try await Self.check(node, service: "gate.GateService") } // not hosted there
    }

    /// Streaming client calls are counted when they end: a gate's push stream from a
    /// node that died ends UNAVAILABLE, and the gate's metrics say so.
    @Test func aGateCountsThePushStreamANodeTookDown() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let http = ClusterHarness.freshPort()
        let gate = try cluster.startGate(httpListen: "127.0.0.1:\(http)")
        let node = try cluster.startNode()
        try await cluster.waitReady(port: gate, nodes: 1)
        let series = #"swiftverse_grpc_client_calls_total{service="verse.NodeService",method="RegisterGate",code="UNAVAILABLE"}"#
        #expect(MetricsEndpointTests.sample(try HTTPProbe.get(port: http, path: "/metrics").body, series) == nil)
        cluster.kill(node: node)
        #expect(try await Self.waitFor {
            (MetricsEndpointTests.sample(try HTTPProbe.get(port: http, path: "/metrics").body, series) ?? 0) >= 1
        })
    }

    @Test func aNodeServesTheOperatorEndpointsOnItsOwnHTTPPortAndNoClientAPI() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let http = ClusterHarness.freshPort()
        try cluster.startNode(["--http-listen", "127.0.0.1:\(http)"], executable: "chat-server")
        let gate = try cluster.startGate()
        try await cluster.waitReady(port: gate, nodes: 1)
        #expect(try await Self.waitFor { try HTTPProbe.get(port: http, path: "/ready").status == 200 })
        #expect(try HTTPProbe.get(port: http, path: "/healthz").status == 200)
        let metrics = try HTTPProbe.get(port: http, path: "/metrics")
        #expect(metrics.status == 200 && metrics.body.contains("swiftverse_node_shards_owned 256"), "\(metrics.body.prefix(500))")
        // The node's own calls to etcd, as a client.
        #expect(metrics.body.contains(#"swiftverse_grpc_client_calls_total{service="etcdserverpb.KV",method="Range",code="OK"}"#)
                || metrics.body.contains(#"swiftverse_grpc_client_calls_total{service="etcdserverpb.KV",method="Txn",code="OK"}"#),
                "\(metrics.body.split(separator: "\n").filter { $0.contains("client") }.prefix(10))")
        #expect(metrics.body.contains("swiftverse_coordination_session_up 1"))
        #expect(metrics.body.contains("swiftverse_node_shards_claimed_total 256"))
        // Its lease keep-alive and watch streams to etcd, at least.
        #expect((MetricsEndpointTests.sample(metrics.body, "swiftverse_http2_streams_open") ?? 0) >= 2)
        #expect((MetricsEndpointTests.sample(metrics.body, "swiftverse_coordination_keepalive_duration_seconds_count") ?? 0) >= 1)
        #expect(try HTTPProbe.get(port: http, path: "/api/v1/cluster").body.contains("\"shardCount\":256"))
        #expect(try HTTPProbe.get(port: http, path: "/").status == 404) // no web client on a node
        let events = try HTTPProbe.get(port: http, path: "/api/v1/events/stream")
        #expect(events.status == 404 && events.body.contains("serves no clients"), "\(events)")
    }
}
