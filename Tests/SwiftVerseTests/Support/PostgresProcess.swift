import Foundation

/// A real PostgreSQL (Debian's postgresql, installed by `make deps`) on a loopback port,
/// in a temporary folder, for tests. The server refuses to run as root, so it runs as
/// the `postgres` user (runuser). It can be stopped and started again on the same data,
/// as an outage would, or killed as a crash would.
final class PostgresProcess: @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, one step at a time.
    let port: Int
    let directory: URL
    private var data: URL { directory.appendingPathComponent("data") }
    /// Left for `make test` to end the server by, should the test process die.
    private let pidFile: URL
    private let binaries: URL
    static let database = "swiftverse"
    /// Where it listens besides loopback (a `NetworkLab`'s host address), if anywhere.
    private let alsoListening: String?

    /// `--store` for this server's database `database`, reached at `host`.
    func url(database: String = PostgresProcess.database, host: String = "127.0.0.1") -> String {
        "postgres://postgres@\(host):\(port)/\(database)"
    }

    /// A new, empty database on this server.
    func createDatabase(_ name: String) throws {
        try Self.run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
    }

    /// Runs SQL in `database` (as the superuser).
    func sql(_ statement: String, database: String = PostgresProcess.database) throws {
        try Self.run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-d", database, "-c", statement])
    }

    nonisolated(unsafe) private static var nextPort = 31000 + Int(getpid() % 400) * 4

    /// `alsoListening`: an address to serve besides 127.0.0.1 (any client there is trusted).
    init(alsoListening: String? = nil) throws {
        self.alsoListening = alsoListening
        Self.nextPort += 1
        port = Self.nextPort
        directory = URL(fileURLWithPath: "/tmp/verse-pg-\(UUID().uuidString)")
        pidFile = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("verse-proc-pg-\(port).pid")
        guard let version = try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql").sorted().last else {
            throw PostgresProcessError.notInstalled
        }
        binaries = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.run("/bin/chown", ["postgres:postgres", directory.path])
        try asPostgres("initdb", ["-D", data.path, "--auth=trust", "-U", "postgres", "--no-sync"])
        if alsoListening != nil {
            let rules = try FileHandle(forWritingTo: data.appendingPathComponent("pg_hba.conf"))
            rules.seekToEndOfFile()
            rules.write(Data("host all all 0.0.0.0/0 trust\n".utf8))
            try rules.close()
        }
        try start()
        try createDatabase(Self.database)
    }

    func start() throws {
        try asPostgres("pg_ctl", ["-D", data.path, "-l", directory.appendingPathComponent("log").path, "-w", "-t", "60",
                                  "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1\(alsoListening.map { "," + $0 } ?? "")", "start"])
        if let pid = try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8).split(separator: "\n").first {
            try? String(pid).write(to: pidFile, atomically: true, encoding: .utf8)
        }
    }

    /// A clean shutdown (what an operator's stop does).
    func stop() {
        try? asPostgres("pg_ctl", ["-D", data.path, "-m", "fast", "-w", "stop"])
        try? FileManager.default.removeItem(at: pidFile)
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func asPostgres(_ program: String, _ arguments: [String]) throws {
        try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", binaries.appendingPathComponent(program).path] + arguments)
    }

    /// Runs a command to its end, through the shell (`system`, which waits for it
    /// itself). Its errors go to a file, not a pipe: the server that pg_ctl starts
    /// would inherit a pipe and hold it open for its whole life.
    private static func run(_ executable: String, _ arguments: [String]) throws {
        let errors = NSTemporaryDirectory() + "verse-pg-cmd-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: errors) }
        let quoted = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system(quoted.joined(separator: " ") + " </dev/null >/dev/null 2>" + errors)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw PostgresProcessError.failed("\(executable) \(arguments.joined(separator: " ")) (status \(status)): \(output)")
        }
    }
}

enum PostgresProcessError: Error {
    case notInstalled
    case failed(String)
}
