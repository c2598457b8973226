import Foundation

/// A real etcd (Debian's etcd-server, installed by `make deps`) on loopback ports with
/// a temporary data directory, for tests. It can be stopped and started again on the
/// same data, as an outage would.
final class EtcdProcess: @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, one step at a time.
    let clientPort: Int
    let peerPort: Int
    let dataDirectory: URL
    /// Serve clients over TLS with this certificate and key (PEM files).
    private let tls: (certificate: String, key: String)?
    /// Run in this namespace of a `NetworkLab`, on its address (else on loopback).
    let member: NetworkLab.Member?
    let host: String
    private var process: Process?

    var endpoint: String { "\(host):\(clientPort)" }
    private var pidFile: URL { dataDirectory.appendingPathExtension("pid") }

    nonisolated(unsafe) private static var nextPort = 21000 + Int(getpid() % 500) * 8

    init(tls: (certificate: String, key: String)? = nil, in member: NetworkLab.Member? = nil) throws {
        self.tls = tls
        self.member = member
        host = member?.address ?? "127.0.0.1"
        Self.nextPort += 2
        clientPort = Self.nextPort
        peerPort = Self.nextPort + 1
        dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("verse-etcd-\(UUID().uuidString)")
        try start()
    }

    func start() throws {
        let peer = "http://\(host):\(peerPort)"
        let client = "\(tls == nil ? "http" : "https")://\(host):\(clientPort)"
        let arguments = [
            "--name", "verse-test", "--data-dir", dataDirectory.path,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "verse-test=\(peer)",
            // Short raft timers let etcd accept 1-second leases (its minimum TTL
            // is 1.5 x the election timeout).
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--log-level", "error", "--logger", "zap",
        ] + (tls.map { ["--cert-file", $0.certificate, "--key-file", $0.key] } ?? [])
        let command = member?.command("/usr/bin/etcd", arguments) ?? (executable: "/usr/bin/etcd", arguments: arguments)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // If the test process dies, `make test` ends this etcd by the PID left here.
        try? "\(process.processIdentifier)".write(to: pidFile, atomically: true, encoding: .utf8)
        try waitUntilServing()
    }

    private func waitUntilServing() throws {
        for _ in 0..<600 { // up to a minute: etcd starts in about a second
            let socket = PortProbe()
            if socket.connects(to: clientPort, host: host) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw EtcdProcessError.didNotStart
    }

    /// SIGSTOP: etcd freezes (a stalled disk or VM); `resume` lets it go on.
    func pause() {
        if let process { kill(process.processIdentifier, SIGSTOP) }
    }

    func resume() {
        if let process { kill(process.processIdentifier, SIGCONT) }
    }

    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
        try? FileManager.default.removeItem(at: pidFile)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: dataDirectory)
    }
}

enum EtcdProcessError: Error { case didNotStart }

/// A throwaway TCP connect, to learn when a port accepts connections.
struct PortProbe {
    func connects(to port: Int, host: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
