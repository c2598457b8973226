import Foundation

/// A test CA and a server certificate for 127.0.0.1 and localhost, made at test time by
/// Tests/interop/make-test-certs.sh.
struct TestCertificates {
    let directory: URL

    /// The CA's certificate, to verify the server with.
    var ca: String { directory.appendingPathComponent("ca.pem").path }
    /// The server's certificate chain and key.
    var certificate: String { directory.appendingPathComponent("server.pem").path }
    var key: String { directory.appendingPathComponent("server.key").path }

    init(in directory: URL) throws {
        self.directory = directory
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
    }
}
