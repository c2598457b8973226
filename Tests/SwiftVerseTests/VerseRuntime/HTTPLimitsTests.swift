import Foundation
import Testing
import VerseGRPC
@testable import VerseRuntime

/// The HTTP port's limits answer with a status and a reason: connections past
/// --http-max-connections get 503, a head past the parser's limit 431, a malformed
/// request 400; each closes that connection only.
@Suite("hardening: HTTP connection and head limits", .serialized)
struct HTTPLimitsTests {
    static func answer(_ request: String, port: Int) throws -> String {
        let socket = try LoopbackSocket(port: port)
        defer { socket.close() }
        socket.send(Array(request.utf8))
        return String(decoding: socket.readToEnd(), as: UTF8.self)
    }

    static let health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    @Test func oneConnectionPastTheLimitGets503AndALaterOneIsServed() async throws {
        try await HTTPTimeoutTests.withHTTPGate(configure: { $0.maxConnections = 2; $0.idleTimeout = .seconds(60) }) { port in
            let held = try (0..<2).map { _ in try LoopbackSocket(port: port) }
            // Until the server has accepted both (before that, a third is still served).
            var refused = ""
            for _ in 0..<100 where !refused.hasPrefix("HTTP/1.1 503") {
                refused = try Self.answer(Self.health, port: port)
                if !refused.hasPrefix("HTTP/1.1 503") { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable"), "\(refused)")
            #expect(refused.hasSuffix("\r\n\r\ntoo many connections\n"), "\(refused)")
            held[0].close()
            // Served again once the server has seen the held connection go.
            var served = ""
            for _ in 0..<50 where !served.hasPrefix("HTTP/1.1 200") {
                try await Task.sleep(for: .milliseconds(100))
                served = try Self.answer(Self.health, port: port)
            }
            #expect(served.hasPrefix("HTTP/1.1 200"), "\(served)")
            held[1].close()
        }
    }

    @Test func aHeadPastTheParsersLimitGets431AndAMalformedRequest400() async throws {
        try await HTTPTimeoutTests.withHTTPGate { port in
            let big = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n"
            let tooLarge = try Self.answer(big, port: port)
            #expect(tooLarge.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large"), "\(tooLarge.prefix(200))")
            #expect(tooLarge.hasSuffix("the request head is too large\n"))
            let malformed = try Self.answer("GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", port: port)
            #expect(malformed.hasPrefix("HTTP/1.1 400 Bad Request"), "\(malformed)")
            #expect(malformed.contains("malformed HTTP request ("), "\(malformed)")
            #expect(malformed.utf8.count < 400, "a short answer")
            #expect(try Self.answer(Self.health, port: port).hasPrefix("HTTP/1.1 200"), "others still served")
        }
    }
}
