import Foundation

/// A test CA and a server certificate for 127.0.0.1 and localhost, made at test time by
/// Tests/interop/make-test-certs.sh: `ca.pem`, `server.pem` and `server.key`.
enum TestCertificates {
    static func make(in directory: URL) throws -> URL {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../interop/make-test-certs.sh").standardized
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("make-test-certs.sh failed") }
        return directory
    }
}
