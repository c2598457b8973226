import Foundation
import VerseEtcd
import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// A real cluster on loopback for tests: an etcd, `verse-testnode` processes and `gate`
/// processes, each a separate OS process started from this build's executables. With a
/// `NetworkLab`, etcd and every process started with a lab member run in network
/// namespaces of their own, on the lab's addresses.
final class ClusterHarness: @unchecked Sendable {
    // @unchecked: used by one test at a time, step by step.
    let etcd: EtcdProcess
    let lab: NetworkLab?
    /// The lab member each process's port belongs to (none: loopback).
    private(set) var members: [Int: NetworkLab.Member] = [:]
    let shards: Int
    let logDirectory: URL
    private(set) var nodes: [Int: Process] = [:]
    private(set) var gates: [Int: Process] = [:]
    private let binDirectory: URL
    private let prefix = "/verse-test-\(UUID().uuidString.prefix(8))"
    /// Every process of the cluster gets it (`--cluster-secret`).
    let secret = UUID().uuidString

    // Below the ephemeral range (32768+), so no outgoing connection can hold one.
    nonisolated(unsafe) private static var nextPort = 26000 + Int(getpid() % 150) * 40

    /// Flags every process of the cluster gets besides the etcd ones.
    private let commonArguments: [String]

    /// `etcdTLS`: etcd serves TLS and every process reaches it with `--etcd-ca`.
    init(shards: Int = 256, etcdTLS: Bool = false, lab: NetworkLab? = nil) throws {
        self.shards = shards
        self.lab = lab
        binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("verse-cluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
        if etcdTLS {
            let certs = try TestCertificates(in: logDirectory.appendingPathComponent("etcd-certs"))
            etcd = try EtcdProcess(tls: (certs.certificate, certs.key), in: lab?.member("etcd"))
            commonArguments = ["--etcd-ca", certs.ca]
        } else {
            etcd = try EtcdProcess(in: lab?.member("etcd"))
            commonArguments = []
        }
    }

    static func freshPort() -> Int {
        nextPort += 1
        return nextPort
    }

    /// Where the process on `port` listens.
    func host(of port: Int) -> String { members[port]?.address ?? "127.0.0.1" }

    private func launch(_ executable: String, _ arguments: [String], log: String, etcdEndpoint: String? = nil,
                        member: NetworkLab.Member? = nil) throws -> Process {
        let path = binDirectory.appendingPathComponent(executable).path
        let arguments = arguments + ["--etcd", etcdEndpoint ?? etcd.endpoint, "--etcd-prefix", prefix, "--shards", "\(shards)",
                                         "--lease-ttl", "1", "--log-level", "debug", "--cluster-secret", secret] + commonArguments
        let command = member?.command(path, arguments) ?? (executable: path, arguments: arguments)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        let logFile = logDirectory.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // If the test process dies, `make test` ends this one by the PID left here.
        try? "\(process.processIdentifier)".write(to: Self.pidFile(process), atomically: true, encoding: .utf8)
        return process
    }

    static func pidFile(_ process: Process) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("verse-proc-\(process.processIdentifier).pid")
    }

    private func reap(_ process: Process) {
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: Self.pidFile(process))
    }

    /// A node of the test object types (`verse-testnode`), or of others (`chat-server`).
    /// `etcdEndpoint`: reach etcd there instead (through a `TCPRelay`, to cut it off).
    /// `member`: run in that lab namespace.
    @discardableResult
    func startNode(port: Int = ClusterHarness.freshPort(), _ extra: [String] = [], executable: String = "verse-testnode",
                   etcdEndpoint: String? = nil, member: NetworkLab.Member? = nil) throws -> Int {
        members[port] = member
        nodes[port] = try launch(executable, ["--listen", "\(host(of: port)):\(port)"] + extra, log: "node-\(port).log",
                                 etcdEndpoint: etcdEndpoint, member: member)
        return port
    }

    /// What the node on `port` has logged so far.
    func log(node port: Int) -> String {
        (try? String(contentsOf: logDirectory.appendingPathComponent("node-\(port).log"), encoding: .utf8)) ?? ""
    }

    @discardableResult
    /// `httpListen`: where it serves HTTP (browsers); off unless a test asks.
    func startGate(port: Int = ClusterHarness.freshPort(), httpListen: String = "off", _ extra: [String] = [],
                   member: NetworkLab.Member? = nil) throws -> Int {
        members[port] = member
        gates[port] = try launch("gate", ["--listen", "\(host(of: port)):\(port)", "--auth", "open", "--http-listen", httpListen,
                                          "--allow", "Counter/Add", "--allow", "Channel/*", "--allow", "Echo/Echo"] + extra,
                                 log: "gate-\(port).log", member: member)
        return port
    }

    /// The chat CLI for `user`, connected to the gate on `port`.
    func startChatCLI(gate port: Int, user: String) throws -> ChatCLIProcess {
        try startChatCLI(gates: [port], user: user)
    }

    /// The chat CLI with several `--server`s (it moves on to the next when one goes).
    func startChatCLI(gates: [Int], user: String) throws -> ChatCLIProcess {
        try ChatCLIProcess(binDirectory: binDirectory, logDirectory: logDirectory, gates: gates, user: user)
    }

    /// Test certificates in this cluster's log directory.
    func makeCertificates() throws -> TestCertificates {
        try TestCertificates(in: logDirectory.appendingPathComponent("certs"))
    }

    /// kill -9: no goodbye, no hand-over.
    func kill(node port: Int) {
        guard let process = nodes.removeValue(forKey: port) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        reap(process)
    }

    /// SIGSTOP: the node freezes (as a long GC pause or a stalled VM would), its lease
    /// runs out, and its shards move; `resume` lets it go on from where it was.
    func pause(node port: Int) {
        if let process = nodes[port] { Foundation.kill(process.processIdentifier, SIGSTOP) }
    }

    func resume(node port: Int) {
        if let process = nodes[port] { Foundation.kill(process.processIdentifier, SIGCONT) }
    }

    /// SIGTERM to a gate: it drains its clients and exits.
    /// SIGKILL: the gate dies mid-stream, its clients' connections reset.
    func kill(gate port: Int) {
        guard let process = gates.removeValue(forKey: port) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        reap(process)
    }

    func terminate(gate port: Int) {
        guard let process = gates.removeValue(forKey: port) else { return }
        process.terminate()
        reap(process)
    }

    /// SIGTERM: the node hands its shards back, then exits.
    func terminate(node port: Int) {
        guard let process = nodes.removeValue(forKey: port) else { return }
        process.terminate()
        reap(process)
    }

    func status(port: Int) async throws -> Verse_StatusResponse {
        let client = try GRPCClient(host: host(of: port), port: port)
        defer { Task { await client.close() } }
        return try await client.unary("/verse.Admin/Status", request: Verse_StatusRequest(), timeout: .seconds(2))
    }

    /// Waits until the process on `port` reports the cluster settled with `nodes` live
    /// nodes: every shard served by its target and nothing left to move. Ready alone is
    /// not enough: just after a node joins every shard still has an owner, while half of
    /// them are about to move (and a move cannot finish while etcd is away).
    func waitReady(port: Int, nodes expected: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let status = try? await status(port: port) {
                last = "ready=\(status.ready) settled=\(status.settled) nodes=\(status.liveNodes)"
                if status.settled && status.liveNodes.count == expected { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("cluster on port \(port) not ready with \(expected) nodes after \(timeout): \(last); logs in \(logDirectory.path)")
    }

    /// The port of the node that owns `objectID`'s shard now, as the shard map in etcd says.
    func owner(of objectID: String) async throws -> Int? {
        let etcd = try EtcdClient(endpoint: self.etcd.endpoint)
        defer { Task { await etcd.close() } }
        guard let stored = try await etcd.get("\(prefix)/shardmap") else { return nil }
        let record = try Verse_ShardMapRecord(serializedBytes: stored.value)
        let shard = ShardID.of(objectID, count: shards)
        guard shard < record.current.count, record.current[shard] >= 0, Int(record.current[shard]) < record.nodes.count else { return nil }
        return record.nodes[Int(record.current[shard])].split(separator: ":").last.flatMap { Int($0) }
    }

    func stopAll() {
        for process in Array(nodes.values) + Array(gates.values) {
            if process.isRunning { process.terminate() }
            reap(process)
        }
        nodes.removeAll()
        gates.removeAll()
        etcd.stop()
    }

    deinit {
        stopAll()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
