import NIOCore
import Testing
@testable import VerseGRPC
import VerseProtobuf

/// A smaller HPACK table (`HTTP2Settings.headerTableSize`, chat-server's
/// `--hpack-table-size`): the peer is told in SETTINGS, and calls go on working with
/// headers it can no longer index.
@Suite("HPACK table size")
struct HeaderTableSizeTests {
    typealias Payload = Grpc_Testing_Payload
    typealias Frame = HTTP2Frame

    @Test func theServerAnnouncesItInItsSettings() throws {
        func announced(_ peer: HTTP2ConnectionBytesTests.Peer) throws -> UInt32? {
            let settings = try #require(peer.received().first { $0.type == .settings })
            return stride(from: 0, to: settings.payload.count, by: 6)
                .first { UInt16(settings.payload[$0]) << 8 | UInt16(settings.payload[$0 + 1]) == 0x1 }
                .map { settings.word(at: $0 + 2) }
        }
        #expect(try announced(HTTP2ConnectionBytesTests.Peer { $0.http2.headerTableSize = 0 }) == 0)
        #expect(try announced(HTTP2ConnectionBytesTests.Peer()) == nil, "HTTP/2's default of 4096 goes unsaid")
    }

    @Test func callsWithRepeatedHeadersWorkWithNoTable() async throws {
        var service = GRPCService(name: "test.Table")
        service.unary("Echo") { (request: Payload, context) in
            var reply = request
            reply.body = Array((context.requestMetadata["x-token"] ?? "").utf8)
            return reply
        }
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.http2.headerTableSize = 0
        let server = GRPCServer(configuration: configuration, services: [service])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        // The same headers call after call: the client's encoder would index them, and
        // must not now (nghttp2's decoder on our side refuses a table over the limit).
        for index in 0..<20 {
            var metadata = Metadata()
            metadata.add("x-token", "token-\(index % 3)")
            let reply: Payload = try await client.unary("/test.Table/Echo", request: Payload(), metadata: metadata)
            #expect(reply.body == Array("token-\(index % 3)".utf8))
        }
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
    }

    @Test func chatServerRefusesATableOverTheLimit() throws {
        let bad = try ChatBenchOptionsTests.run(["--embedded", "--hpack-table-size", "70000"], executable: "chat-server")
        #expect(bad.status == 64)
        #expect(bad.errors.contains("--hpack-table-size must be 0 to 65536"), "\(bad.errors)")
    }
}
