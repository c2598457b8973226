import Foundation

/// The chat CLI (`chat`) as a separate process, driven through its standard input as a
/// person types (it reads lines when not on a terminal), its screen captured to a file.
final class ChatCLIProcess: @unchecked Sendable {
    // @unchecked: used by one test at a time, step by step.
    private let process = Process()
    private let input = Pipe()
    private let screenFile: URL

    /// `gates`: the CLI's `--server`s, in order.
    init(binDirectory: URL, logDirectory: URL, gates: [Int], user: String) throws {
        screenFile = logDirectory.appendingPathComponent("chat-\(user).screen")
        _ = FileManager.default.createFile(atPath: screenFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: screenFile)
        process.executableURL = binDirectory.appendingPathComponent("chat")
        process.arguments = gates.flatMap { ["--server", "127.0.0.1:\($0)"] } + ["--user", user]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // If the test process dies, `make test` ends this one by the PID left here.
        try? "\(process.processIdentifier)".write(to: ClusterHarness.pidFile(process), atomically: true, encoding: .utf8)
    }

    /// Everything the CLI has shown so far.
    var screen: String { (try? String(contentsOf: screenFile, encoding: .utf8)) ?? "" }

    /// Types `line` and Enter.
    func type(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Waits until the screen shows `text`; false if it has not within `timeout`.
    func waitFor(_ text: String, timeout: Duration = .seconds(60)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if screen.contains(text) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return screen.contains(text)
    }

    /// The text of the chat lines shown ("user: text", the time dropped), in order.
    var chatLines: [String] {
        screen.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
            return String(line[line.index(close, offsetBy: 2)...])
        }
    }

    func quit() {
        if process.isRunning {
            type("/quit")
            try? input.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: ClusterHarness.pidFile(process))
    }

    deinit { quit() }
}
