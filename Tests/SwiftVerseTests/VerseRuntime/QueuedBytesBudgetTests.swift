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
/// hold about 80 MiB of pushes; once they leave, its RSS falls back within 30 s. Each
/// staller has a channel of its own: a push several slow clients share is held once, so
/// 40 stallers on one channel would hold 2 MiB between them, not 80.
@Suite("hardening: memory after a burst (a real process)", .serialized)
struct MemoryAfterBurstTests {
    @Test func memoryHeldForUnreadPushesIsReturnedOnceTheyGo() async throws {
        let (process, port) = try Self.startNode()
        defer { Self.stop(process) }
        let pid = "\(process.processIdentifier)"
        let publisher = try await Self.connect(port: port)
        let channels = (0..<40).map { "burst-\($0)" }
        let baseline = ProcessStats.residentBytes(pid) ?? 0
        var stallers: [GateClient] = []
        for channel in channels {
            let staller = try await GateClient.register(try GRPCClient(host: "127.0.0.1", port: port)) // never reads
            let _: Verse_Test_SubscribeResponse = try await staller.call("Channel", channel, "Subscribe", Verse_Test_SubscribeRequest())
            stallers.append(staller)
        }
        var publish = Verse_Test_PublishRequest()
        publish.text = String(repeating: "z", count: 16 << 10)
        publish.count = 192 // 3 MiB each: 1 MiB in the client's window, 2 MiB held by the server
        for channel in channels {
            let _: Verse_Test_PublishResponse = try await publisher.call("Channel", channel, "Publish", publish)
        }
        // Published: the pushes are on their way to the stallers' streams.
        var peak = ProcessStats.residentBytes(pid) ?? 0
        for _ in 0..<300 where peak <= baseline + (40 << 20) {
            try await Task.sleep(for: .milliseconds(100))
            peak = max(peak, ProcessStats.residentBytes(pid) ?? 0)
        }
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
        await publisher.close()
    }

    /// 40 clients that stop reading, all on one channel: each push is encoded once and
    /// every staller's queue holds that one copy, so the 2 MiB each leaves unread is the
    /// same 2 MiB (copied per staller, as it once was, it would be 80 MiB).
    @Test func aPushSharedBySlowClientsIsHeldOnce() async throws {
        let (process, port) = try Self.startNode()
        defer { Self.stop(process) }
        let pid = "\(process.processIdentifier)"
        let reader = try await Self.connect(port: port)
        let _: Verse_Test_SubscribeResponse = try await reader.call("Channel", "shared", "Subscribe", Verse_Test_SubscribeRequest())
        let baseline = ProcessStats.residentBytes(pid) ?? 0
        var stallers: [GateClient] = []
        for _ in 0..<40 {
            let staller = try await GateClient.register(try GRPCClient(host: "127.0.0.1", port: port)) // never reads
            let _: Verse_Test_SubscribeResponse = try await staller.call("Channel", "shared", "Subscribe", Verse_Test_SubscribeRequest())
            stallers.append(staller)
        }
        var publish = Verse_Test_PublishRequest()
        publish.text = String(repeating: "z", count: 16 << 10)
        publish.count = 192 // 3 MiB to each: 1 MiB in its window, 2 MiB queued for it
        let _: Verse_Test_PublishResponse = try await reader.call("Channel", "shared", "Publish", publish)
        // The reader has them all: each push was written to every subscriber's stream
        // (those on other event loops a task later).
        _ = try await reader.nextPushes(192, as: Verse_Test_Note.self, timeout: .seconds(30))
        try await Task.sleep(for: .seconds(1))
        let held = (ProcessStats.residentBytes(pid) ?? 0) - baseline
        #expect(held < 24 << 20, "40 stallers of one channel held \(held >> 20) MiB")
        for staller in stallers {
            staller.close()
            await staller.grpc.close()
        }
        await reader.close()
    }

    static func startNode() throws -> (Process, port: Int) {
        let port = ClusterHarness.freshPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("verse-testnode")
        process.arguments = ["--embedded", "--listen", "127.0.0.1:\(port)", "--http-listen", "off", "--log-level", "error"]
        try process.run()
        return (process, port)
    }

    static func stop(_ process: Process) {
        process.terminate()
        process.waitUntilExit()
    }

    static func connect(port: Int) async throws -> GateTestClient {
        for _ in 0..<300 {
            if let client = try? await GateTestClient.connect(port: port, user: "reader") { return client }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await GateTestClient.connect(port: port, user: "reader")
    }
}
