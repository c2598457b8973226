import Testing
import VerseGRPC
@testable import VerseRuntime
import VerseTestObjects

/// The HTTP/1.1 port closes connections that do not send a whole request in time (a
/// slowloris holds sockets by sending a head byte by byte); event streams stay.
@Suite("hardening: HTTP read timeouts", .serialized)
struct HTTPTimeoutTests {
    /// An embedded gate serving HTTP with 1 s timeouts (and what `configure` changes).
    static func withHTTPGate(configure: (inout HTTPGateConfiguration) -> Void = { _ in },
                             _ body: (Int) async throws -> Void) async throws {
        var settings = ClusterSettings(coordination: .embedded)
        settings.shardCount = 16
        var gate = Gate.Configuration(advertiseAddress: "127.0.0.1:0", authenticator: OpenAuthenticator(), policy: TestObjects.policy)
        var http = HTTPGateConfiguration(host: "127.0.0.1", port: 0)
        http.idleTimeout = .seconds(1)
        http.requestTimeout = .seconds(1)
        configure(&http)
        gate.http = http
        let process = try ClusterProcess.node(listen: GRPCServer.Configuration(port: 0), advertise: "127.0.0.1:0",
                                              objectTypes: TestObjects.all, settings: settings, gate: gate)
        try await process.start()
        do {
            try await body(process.httpPort!)
        } catch {
            await process.stop(grace: .milliseconds(100))
            throw error
        }
        await process.stop(grace: .milliseconds(100))
    }

    @Test func aHeadThatNeverEndsIsClosed() async throws {
        try await Self.withHTTPGate { port in
            let socket = try LoopbackSocket(port: port)
            defer { socket.close() }
            socket.send(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8))
            #expect(socket.readUntilClosed(within: 10) != nil, "still open 10 s after a head that never ended")
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosedAndABusyOneServed() async throws {
        try await Self.withHTTPGate { port in
            let socket = try LoopbackSocket(port: port)
            defer { socket.close() }
            socket.send(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let answer = socket.readUntilClosed(within: 10).map { String(decoding: $0, as: UTF8.self) }
            #expect(answer?.hasPrefix("HTTP/1.1 200") == true, "\(answer ?? "still open")") // answered, then closed when idle
        }
    }

    @Test func anEventStreamOutlivesTheIdleTimeout() async throws {
        try await Self.withHTTPGate { port in
            let socket = try LoopbackSocket(port: port)
            defer { socket.close() }
            socket.send(Array("GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            #expect(socket.readUntilClosed(within: 3) == nil, "the event stream was closed within 3 s (idle timeout 1 s)")
        }
    }
}
