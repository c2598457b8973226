import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import VerseGRPC
import VerseProtobuf

/// Connection-level behaviour: keepalive, stream limits, and no leaked calls.
@Suite("gRPC connections", .serialized)
struct GRPCConnectionTests {
    typealias Payload = Grpc_Testing_Payload

    final class Gauge: Sendable {
        let current = NIOLockedValueBox(0)
        let peak = NIOLockedValueBox(0)
    }

    static func slowService(_ gauge: Gauge) -> GRPCService {
        var service = GRPCService(name: "test.Slow")
        service.unary("Echo") { (request: Payload, _) in
            let now = gauge.current.withLockedValue { $0 += 1; return $0 }
            gauge.peak.withLockedValue { $0 = max($0, now) }
            try await Task.sleep(for: .milliseconds(30))
            gauge.current.withLockedValue { $0 -= 1 }
            return request
        }
        return service
    }

    @Test func callsBeyondTheServersStreamLimitWaitTheirTurn() async throws {
        let gauge = Gauge()
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.http2.maxConcurrentStreams = 2
        let server = GRPCServer(configuration: configuration, services: [Self.slowService(gauge)])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        // A first call: once it is answered, the server's SETTINGS (2 streams) have arrived.
        let _: Payload = try await client.unary("/test.Slow/Echo", request: Payload())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask { let _: Payload = try await client.unary("/test.Slow/Echo", request: Payload()) }
            }
            try await group.waitForAll()
        }
        #expect(gauge.peak.withLockedValue { $0 } <= 2)
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
    }

    @Test func keepaliveClosesAPeerThatNeverAnswersPings() async throws {
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.http2.keepaliveInterval = .milliseconds(100)
        configuration.http2.keepaliveTimeout = .milliseconds(200)
        let server = GRPCServer(configuration: configuration, services: [Self.slowService(Gauge())])
        try await server.start()

        // A peer that speaks the preface and then goes silent (never ACKs a PING).
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: server.localPort!).get()
        var hello = silent.allocator.buffer(capacity: 64)
        hello.writeString("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        hello.writeBytes([0, 0, 0, 4, 0, 0, 0, 0, 0]) // empty SETTINGS
        try await silent.writeAndFlush(hello)

        // A real client answers PINGs (nghttp2 ACKs them) and stays connected.
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        let _: Payload = try await client.unary("/test.Slow/Echo", request: Payload())

        let closed = Task { try await silent.closeFuture.get() }
        let outcome = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await closed.value; return true }
            group.addTask { try await Task.sleep(for: .seconds(10)); return false } // ~0.3 s expected
            defer { group.cancelAll() }
            return try await group.next()!
        }
        #expect(outcome, "the server kept a connection that never acknowledged its PINGs")
        try await Task.sleep(for: .milliseconds(400))
        let _: Payload = try await client.unary("/test.Slow/Echo", request: Payload())
        #expect(server.connectionCount == 1)
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
    }

    /// Counts are process-wide: `make test` runs the suites one at a time (--no-parallel).
    @Test func finishedCallsLeaveNoStreamsBehind() async throws {
        let server = GRPCServer(configuration: GRPCServer.Configuration(port: 0), services: [Self.slowService(Gauge())])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        for _ in 0..<50 { let _: Payload = try await client.unary("/test.Slow/Echo", request: Payload()) }
        do {
            let call = try await client.makeCall(path: "/test.Slow/Echo", timeout: .seconds(5))
            call.cancel()
            _ = await call.status()
        }
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
        for _ in 0..<3000 {
            if LiveObjectCounter.serverStreams.withLockedValue({ $0 }) == 0
                && LiveObjectCounter.clientStreams.withLockedValue({ $0 }) == 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(LiveObjectCounter.serverStreams.withLockedValue { $0 } == 0)
        #expect(LiveObjectCounter.clientStreams.withLockedValue { $0 } == 0)
    }
}
