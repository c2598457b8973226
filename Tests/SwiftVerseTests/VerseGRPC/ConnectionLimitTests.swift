import Foundation
import Testing
import VerseCLI
@testable import VerseGRPC
import VerseProtobuf

/// Past `maxConnections`, a connection gets a defined refusal (GOAWAY
/// ENHANCE_YOUR_CALM "too many connections"), and the ones already served carry on.
@Suite("gRPC server: connection limit", .serialized)
struct ConnectionLimitTests {
    static func echoServer(maxConnections: Int) async throws -> GRPCServer {
        var service = GRPCService(name: "test.Limit")
        service.unary("Echo") { (request: Grpc_Testing_Payload, _) in request }
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.maxConnections = maxConnections
        let server = GRPCServer(configuration: configuration, services: [service])
        try await server.start()
        return server
    }

    static func echo(_ client: GRPCClient) async throws {
        let _: Grpc_Testing_Payload = try await client.unary("/test.Limit/Echo", request: Grpc_Testing_Payload(), timeout: .seconds(5))
    }

    @Test func oneConnectionPastTheLimitIsSentAwayWithAReason() async throws {
        let server = try await Self.echoServer(maxConnections: 2)
        let port = server.localPort!
        let first = try GRPCClient(host: "127.0.0.1", port: port), second = try GRPCClient(host: "127.0.0.1", port: port)
        try await Self.echo(first)
        try await Self.echo(second)

        let socket = try LoopbackSocket(port: port)
        socket.send(HTTP2Frame.clientPreface + HTTP2Frame(.settings).bytes)
        let frames = HTTP2Frame.parse(socket.readToEnd())
        socket.close()
        #expect(frames.map(\.type) == [.settings, .goAway], "\(frames)")
        #expect(frames.last?.word(at: 4) == HTTP2ErrorCode.enhanceYourCalm.rawValue)
        #expect(frames.last.map { String(decoding: $0.payload.dropFirst(8), as: UTF8.self) } == "too many connections")

        let third = try GRPCClient(host: "127.0.0.1", port: port)
        await #expect(throws: GRPCStatus.self) { try await Self.echo(third) }
        await third.close()
        // The two served connections are untouched; with one gone, a new one is served.
        try await Self.echo(first)
        await second.close()
        for _ in 0..<100 where server.connectionCount >= 2 { try await Task.sleep(for: .milliseconds(20)) }
        let fourth = try GRPCClient(host: "127.0.0.1", port: port)
        try await Self.echo(fourth)
        await fourth.close()
        await first.close()
        await server.shutdown(grace: .seconds(1))
    }
}

/// Out of file descriptors, a server pauses accepting instead of spinning on its
/// listening socket, and serves again once descriptors are free.
@Suite("gRPC server: out of file descriptors (a real process)", .serialized)
struct FileDescriptorExhaustionTests {
    /// Whether the server on `port` answers Status within `attempts` tries 100 ms apart.
    static func answers(port: Int, within attempts: Int) async throws -> Bool {
        let client = try GRPCClient(host: "127.0.0.1", port: port)
        defer { Task { await client.close() } }
        for _ in 0..<attempts {
            let status = try? await client.unary("/verse.Admin/Status", request: Verse_StatusRequest(), timeout: .seconds(1)) as Verse_StatusResponse
            if status != nil { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func anExhaustedServerIdlesAndRecovers() async throws {
        let port = ClusterHarness.freshPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        let server = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("verse-testnode")
        // 96 descriptors, and a connection limit above them: the descriptors run out first.
        process.arguments = ["--nofile=96:96", server.path, "--embedded", "--listen", "127.0.0.1:\(port)", "--http-listen", "off",
                             "--max-connections", "10000", "--log-level", "error"]
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        #expect(try await Self.answers(port: port, within: 300))

        let pid = "\(process.processIdentifier)"
        var held: [LoopbackSocket] = []
        for _ in 0..<200 { if let socket = try? LoopbackSocket(port: port) { held.append(socket) } }
        try await Task.sleep(for: .seconds(1)) // past accepting what it could
        let before = ProcessStats.cpuSeconds(pid) ?? 0
        try await Task.sleep(for: .seconds(2))
        let spent = (ProcessStats.cpuSeconds(pid) ?? 0) - before
        #expect(spent < 0.5, "the server used \(spent) s of CPU in 2 s with no descriptors left (spinning on accept)")
        for socket in held { socket.close() }

        #expect(try await Self.answers(port: port, within: 100), "no answer once descriptors were free again")
    }
}
