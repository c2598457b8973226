import Foundation
import NIOConcurrencyHelpers
import Testing
import VerseGateClient
@testable import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects
import VerseCLI

/// Memory for unread pushes has budgets per stream, per connection and per process:
/// past one, the largest stream is cut off, and well-behaved clients lose nothing.
@Suite("hardening: queued-bytes budgets", .serialized)
struct QueuedBytesBudgetTests {
    /// One connection, 20 Register streams that never read (each under its own stream
    /// limit, which is set high): the connection's 16 MiB budget cuts the largest.
    @Test func aConnectionWithManyUnreadStreamsIsCutDownToItsBudget() async throws {
        try await RuntimeEmbeddedTests.withEmbedded(maxQueuedPushBytes: 256 << 20) { process, port in
            let reader = try await GateTestClient.connect(port: port, user: "reader")
            let _: Verse_Test_SubscribeResponse = try await reader.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
            let shared = try GRPCClient(host: "127.0.0.1", port: port)
            var stallers: [GateClient] = []
            for _ in 0..<20 {
                let staller = try await GateClient.register(shared) // never reads
                let _: Verse_Test_SubscribeResponse = try await staller.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
                stallers.append(staller)
            }
            var publish = Verse_Test_PublishRequest()
            publish.text = String(repeating: "z", count: 16 << 10)
            publish.count = 192 // 3 MiB to each of 20 streams: 60 MiB if nothing stopped it
            let _: Verse_Test_PublishResponse = try await reader.call("Channel", "firehose", "Publish", publish)
            let received = try await reader.nextPushes(192, as: Verse_Test_Note.self, timeout: .seconds(20))
            #expect(received.map(\.sequence) == Array(0..<192), "the reading client lost nothing")
            #expect(QueuedDataBudget.process.total <= (16 << 20) + (64 << 10), "queued: \(QueuedDataBudget.process.total)")
            // Cut-offs are counted (and logged) as the gate hears of them.
            for _ in 0..<100 where process.gate!.slowClientsDisconnected == 0 { try await Task.sleep(for: .milliseconds(50)) }
            let cut = process.gate!.slowClientsDisconnected
            #expect(cut >= 1 && cut < 20, "\(cut) of 20 cut off")
            await reader.close()
            for staller in stallers { staller.close() }
            await shared.close()
        }
    }

    @Test func oneConnectionHoldsAtMostItsRegistrations() async throws {
        try await RuntimeEmbeddedTests.withEmbedded { _, port in
            let shared = try GRPCClient(host: "127.0.0.1", port: port)
            var held: [GateClient] = []
            for _ in 0..<256 { held.append(try await GateClient.register(shared)) }
            await #expect(throws: GRPCStatus(.resourceExhausted, "this connection already holds 256 registrations")) {
                _ = try await GateClient.register(shared)
            }
            let other = try await GateTestClient.connect(port: port) // another connection is not affected
            await other.close()
            for client in held { client.close() }
            await shared.close()
        }
    }

    /// The process budget sheds from the connection holding the most, one at a time.
    @Test func theProcessBudgetAsksTheLargestConnectionToShed() {
        final class Probe: Sendable {
            let asked = NIOLockedValueBox<[String]>([])
        }
        let budget = QueuedDataBudget()
        budget.limit = 100
        let probe = Probe()
        let (a, b) = (ObjectIdentifier(Probe.self), ObjectIdentifier(QueuedDataBudget.self))
        budget.report(a, bytes: 60) { probe.asked.withLockedValue { $0.append("a") } }
        budget.report(b, bytes: 30) { probe.asked.withLockedValue { $0.append("b") } }
        #expect(probe.asked.withLockedValue { $0 } == [])
        budget.report(b, bytes: 50) { probe.asked.withLockedValue { $0.append("b") } } // 110 > 100
        #expect(probe.asked.withLockedValue { $0 } == ["a"])
        budget.report(b, bytes: 55) { probe.asked.withLockedValue { $0.append("b") } } // still over: a has not answered yet
        #expect(probe.asked.withLockedValue { $0 } == ["a"])
        budget.report(a, bytes: 0) { probe.asked.withLockedValue { $0.append("a") } } // a shed: 55, under
        #expect(budget.total == 55 && probe.asked.withLockedValue { $0 } == ["a"])
    }
}

/// After a burst, a server gives the memory back: 40 clients that stop reading make it
/// hold about 80 MiB of pushes; once they leave, its RSS falls back within 30 s.
@Suite("hardening: memory after a burst (a real process)", .serialized)
struct MemoryAfterBurstTests {
    @Test func memoryHeldForUnreadPushesIsReturnedOnceTheyGo() async throws {
        let port = ClusterHarness.freshPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("verse-testnode")
        process.arguments = ["--embedded", "--listen", "127.0.0.1:\(port)", "--http-listen", "off", "--log-level", "error"]
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let pid = "\(process.processIdentifier)"
        let reader = try await Self.connect(port: port)
        let _: Verse_Test_SubscribeResponse = try await reader.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
        let baseline = ProcessStats.residentBytes(pid) ?? 0
        var stallers: [GateClient] = []
        for _ in 0..<40 {
            let staller = try await GateClient.register(try GRPCClient(host: "127.0.0.1", port: port)) // never reads
            let _: Verse_Test_SubscribeResponse = try await staller.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
            stallers.append(staller)
        }
        var publish = Verse_Test_PublishRequest()
        publish.text = String(repeating: "z", count: 16 << 10)
        publish.count = 192 // 3 MiB each: 1 MiB in the client's window, 2 MiB held by the server
        let _: Verse_Test_PublishResponse = try await reader.call("Channel", "firehose", "Publish", publish)
        _ = try await reader.nextPushes(192, as: Verse_Test_Note.self, timeout: .seconds(30))
        let peak = ProcessStats.residentBytes(pid) ?? 0
        #expect(peak > baseline + (40 << 20), "the burst held \((peak - baseline) >> 20) MiB")
        for staller in stallers {
            staller.close()
            await staller.grpc.close()
        }
        var now = peak
        for _ in 0..<300 where now > baseline + (peak - baseline) / 4 {
            try await Task.sleep(for: .milliseconds(100))
            now = ProcessStats.residentBytes(pid) ?? 0
        }
        #expect(now <= baseline + (peak - baseline) / 4,
                "RSS \(now >> 20) MiB 30 s after the burst: baseline \(baseline >> 20), peak \(peak >> 20)")
        await reader.close()
    }

    static func connect(port: Int) async throws -> GateTestClient {
        for _ in 0..<300 {
            if let client = try? await GateTestClient.connect(port: port, user: "reader") { return client }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await GateTestClient.connect(port: port, user: "reader")
    }
}
