import Foundation
import Testing
import VerseCLI

/// chat-bench's options for scale and cluster runs: connections from chosen source
/// addresses, users that only register (`--room-clients`), and CPU and memory summed
/// over several server processes (`--server-pid` repeated).
@Suite("chat-bench: source addresses, room clients, several server processes", .serialized)
struct ChatBenchOptionsTests {
    static let chatBench = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chat-bench")

    /// Runs chat-bench to its end: exit status, stdout, stderr.
    static func run(_ arguments: [String], executable: String = "chat-bench") throws -> (status: Int32, output: String, errors: String) {
        let bench = Process()
        bench.executableURL = chatBench.deletingLastPathComponent().appendingPathComponent(executable)
        bench.arguments = arguments
        // stderr to a file: only stdout is read while it runs, so no pipe can fill up.
        let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("chat-bench-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorsFile) }
        let output = Pipe()
        bench.standardOutput = output
        bench.standardError = try FileHandle(forWritingTo: errorsFile)
        try bench.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        bench.waitUntilExit()
        let errors = (try? String(contentsOf: errorsFile, encoding: .utf8)) ?? ""
        return (bench.terminationStatus, String(decoding: outputData, as: UTF8.self), errors)
    }

    @Test func onlyRoomClientsJoinAndTheServersCPUAndMemoryAreSummed() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        let node = try cluster.startNode(executable: "chat-server")
        let gate = try cluster.startGate(DurableChatClusterTests.chatCalls)
        try await cluster.waitReady(port: gate, nodes: 1)
        let pids = [cluster.gates[gate]!.processIdentifier, cluster.nodes[node]!.processIdentifier]

        let result = try Self.run([
            "--target", "127.0.0.1:\(gate)", "--source", "127.0.0.2", "--source", "127.0.0.3",
            "--clients", "6", "--room-clients", "3", "--rooms", "1", "--senders", "1", "--rate", "10",
            "--warmup", "0.5", "--duration", "2", "--drain", "10", "--json",
        ] + pids.flatMap { ["--server-pid", "\($0)"] })
        #expect(result.status == 0, "chat-bench failed: \(result.errors.suffix(600))")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
                                  "no report: \(result.errors.suffix(600))")
        let sent = try #require(report["sent"] as? Int)
        #expect(sent > 0)
        // Three users are in the room: each message is owed to three, not six.
        #expect(report["expected"] as? Int == sent * 3, "\(report)")
        #expect(report["lost"] as? Int == 0)
        #expect(report["call_errors"] as? Int == 0)
        // Both processes' memory: more than either alone (each holds tens of MiB).
        let rss = try #require(report["server_rss_before"] as? Int)
        let alone = try #require(pids.compactMap { ProcessStats.residentBytes("\($0)") }.max())
        #expect(rss > alone)
        #expect(report["server_user_us_per_unit"] is Double && report["server_system_us_per_unit"] is Double, "\(report)")

        // The same gate from 192.0.2.1 (TEST-NET-1), no address of this machine: binding
        // to it fails, which shows the connections above came from their --source.
        let foreign = try Self.run(["--target", "127.0.0.1:\(gate)", "--source", "192.0.2.1", "--clients", "1", "--senders", "0",
                                    "--duration", "1"])
        #expect(foreign.status != 0)
        #expect(foreign.errors.contains("assign requested address"), "\(foreign.errors.suffix(400))")
    }

    @Test func aBadSourceAddressIsRefused() throws {
        let bad = try Self.run(["--source", "not-an-address", "--clients", "1", "--senders", "0"])
        #expect(bad.status == 64)
        #expect(bad.errors.contains("--source expects an IP address"), "\(bad.errors)")
    }
}
