import Foundation
import Testing

/// `--log-format json`: every line a process writes to standard error is one JSON object
/// with the fields log shippers expect.
@Suite("logging: --log-format json", .serialized)
struct LogFormatTests {
    @Test func everyLineIsOneJSONObjectWithTimestampLevelLabelMessageAndMetadata() async throws {
        let folder = try TemporaryFolder()
        let logPath = folder.path + "/server.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chat-server")
        process.arguments = ["--embedded", "--listen", "127.0.0.1:\(ClusterHarness.freshPort())", "--http-listen", "off", "--store", "none",
                             "--log-format", "json", "--log-level", "debug"]
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, !((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains("chat service ready") {
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        process.waitUntilExit()
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 5)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)")
            guard let object else { continue }
            #expect(Set(object.keys).isSuperset(of: ["timestamp", "level", "label", "message", "metadata"]), "\(line)")
            #expect((object["timestamp"] as? String)?.hasSuffix("Z") == true)
            #expect(object["metadata"] is [String: Any])
        }
        #expect(lines.contains { $0.contains("\"message\":\"chat service ready\"") && $0.contains("\"rooms\":") })
    }
}
