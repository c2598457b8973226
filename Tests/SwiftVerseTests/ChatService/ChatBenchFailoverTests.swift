import Foundation
import Testing

/// chat-bench given two gates keeps its users through the loss of one: kill -9 of a gate
/// mid-run, and every user on it moves to the other, fetches what it missed and retries
/// its sends, so the run still ends with every expected delivery made and no call failed.
@Suite("chat-bench: moving to the next --target when a gate goes", .serialized)
struct ChatBenchFailoverTests {
    @Test func aGateKilledMidRunLosesNoDeliveryAndFailsNoCall() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        for _ in 0..<2 { try cluster.startNode(executable: "chat-server") }
        let gates = try (0..<2).map { _ in try cluster.startGate(DurableChatClusterTests.chatCalls) }
        for gate in gates { try await cluster.waitReady(port: gate, nodes: 2) }

        let bench = Process()
        bench.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chat-bench")
        bench.arguments = gates.flatMap { ["--target", "127.0.0.1:\($0)"] } + [
            "--clients", "20", "--senders", "4", "--rate", "20", "--warmup", "1", "--duration", "8", "--drain", "20", "--json",
        ]
        let output = Pipe(), errors = cluster.logDirectory.appendingPathComponent("chat-bench.log")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        bench.standardOutput = output
        bench.standardError = try FileHandle(forWritingTo: errors)
        try bench.run()
        // Once the measured window has run a while (chat-bench logs progress each second).
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, !((try? String(contentsOf: errors, encoding: .utf8)) ?? "").contains("t=  3") {
            try await Task.sleep(for: .milliseconds(100))
        }
        cluster.kill(gate: gates[0])
        let result = output.fileHandleForReading.readDataToEndOfFile()
        bench.waitUntilExit()
        let log = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        #expect(bench.terminationStatus == 0, "chat-bench failed: \(log.suffix(600))")
        let report = try #require(try JSONSerialization.jsonObject(with: result) as? [String: Any], "no report: \(log.suffix(600))")
        #expect(report["lost"] as? Int == 0)
        #expect(report["call_errors"] as? Int == 0)
        #expect((report["expected"] as? Int ?? 0) > 0)
        // The ten users whose own gate was the first moved, each once.
        #expect(report["gate_moves"] as? Int == 10, "\(report)")
    }
}
