import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import VerseGRPC
import VerseRuntime

/// The object store on PostgreSQL, for clusters (`--store postgres://...`), through
/// postgres-nio's connection pool on the process's event loops. Every write is one
/// statement (one round trip, atomic): it bumps the object's entry count only where the
/// epoch is still the writer's, and inserts the entries in the same statement. A
/// commit is durable when it returns (PostgreSQL's `synchronous_commit`, on by default).
public final class PostgresObjectStore: ObjectStore, Sendable {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    public let description: String
    /// How long one operation may wait for the database (a connection from the pool
    /// included) before it fails UNAVAILABLE: the pool waits for a connection for ever.
    let operationTimeout: Duration

    /// The schema this build writes. A database with a newer one is refused.
    static let schemaVersion: Int64 = 1

    /// Starts the connection pool for `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB`);
    /// `waitUntilReady` then connects and brings the schema up to date.
    public init(url: String, eventLoopGroup: any EventLoopGroup, operationTimeout: Duration = .seconds(5), logger: Logger) throws {
        let location = try PostgresLocation(url)
        var configuration = PostgresClient.Configuration(host: location.host, port: location.port, username: location.user,
                                                         password: location.password, database: location.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 8
        configuration.options.minimumConnections = 1
        // The pool logs every failed connection attempt; waitUntilReady says it once per retry.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoopGroup, backgroundLogger: background)
        self.client = client
        self.logger = logger
        self.operationTimeout = operationTimeout
        self.description = location.description
        runner = Task { await client.run() }
    }

    /// Returns once the database answers and its schema is current, retrying with
    /// backoff while it is unreachable (logged); throws for a schema from a newer build.
    public func waitUntilReady() async throws {
        var backoff = RetryBackoff(first: .milliseconds(200), limit: .seconds(5))
        while true {
            do {
                try await migrate()
                return
            } catch let newer as StoreUnavailable where newer.reason.contains("newer than this build") {
                throw newer
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("object store \(description) not reachable yet, retrying in \(backoff.next): \(Self.explain(error))")
                try await backoff.wait()
            }
        }
    }

    private func migrate() async throws {
        let (client, logger) = (self.client, self.logger)
        let version: Int64 = try await bounded("migrating the schema") { try await client.withTransaction(logger: logger) { connection in
            // One node migrates at a time; the others wait, then find it done.
            try await connection.query("SELECT pg_advisory_xact_lock(7315001)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS swiftverse_schema (version BIGINT NOT NULL)", logger: logger)
            var found: Int64 = 0
            for try await (stored) in try await connection.query("SELECT version FROM swiftverse_schema", logger: logger).decode(Int64.self) {
                found = stored
            }
            guard found <= Self.schemaVersion else { return found }
            if found < 1 {
                try await connection.query("""
                    CREATE TABLE objects (
                        type TEXT NOT NULL, id TEXT NOT NULL,
                        epoch BIGINT NOT NULL,
                        snapshot BYTEA, snapshot_through BIGINT NOT NULL DEFAULT 0,
                        last_entry BIGINT NOT NULL DEFAULT 0,
                        PRIMARY KEY (type, id))
                    """, logger: logger)
                try await connection.query("""
                    CREATE TABLE journal (
                        type TEXT NOT NULL, id TEXT NOT NULL, number BIGINT NOT NULL, entry BYTEA NOT NULL,
                        PRIMARY KEY (type, id, number))
                    """, logger: logger)
            }
            if found < Self.schemaVersion {
                try await connection.query("DELETE FROM swiftverse_schema", logger: logger)
                try await connection.query("INSERT INTO swiftverse_schema (version) VALUES (\(Self.schemaVersion))", logger: logger)
            }
            return found
        } }
        guard version <= Self.schemaVersion else {
            throw StoreUnavailable("\(description) has schema version \(version), newer than this build's \(Self.schemaVersion): upgrade SwiftVerse")
        }
    }

    public func activate(_ key: ObjectKey) async throws -> StoredObject {
        let (client, logger) = (self.client, self.logger)
        do {
            return try await bounded("activating \(key)") { try await client.withTransaction(logger: logger) { connection in
                var stored: StoredObject?
                let claim: PostgresQuery = """
                    INSERT INTO objects (type, id, epoch) VALUES (\(key.type), \(key.id), 1)
                    ON CONFLICT (type, id) DO UPDATE SET epoch = objects.epoch + 1
                    RETURNING epoch, snapshot, snapshot_through
                    """
                for try await (epoch, snapshot, through) in try await connection.query(claim, logger: logger)
                    .decode((Int64, ByteBuffer?, Int64).self) {
                    stored = StoredObject(epoch: epoch, snapshot: snapshot.map { Array($0.readableBytesView) }, snapshotThrough: through)
                }
                guard var stored else { throw StoreUnavailable("activating \(key) returned no row") }
                let entries: PostgresQuery = """
                    SELECT number, entry FROM journal WHERE type = \(key.type) AND id = \(key.id)
                    AND number > \(stored.snapshotThrough) ORDER BY number
                    """
                for try await (number, entry) in try await connection.query(entries, logger: logger).decode((Int64, ByteBuffer).self) {
                    stored.entries.append(JournalEntry(number: number, bytes: Array(entry.readableBytesView)))
                }
                return stored
            } }
        } catch {
            throw Self.storeError(error)
        }
    }

    public func write(_ key: ObjectKey, epoch: Int64, entries: [[UInt8]], snapshot: [UInt8]?) async throws -> Int64 {
        // One statement: the epoch check, the count and the entries commit together.
        var binds = PostgresBindings()
        binds.append(key.type)
        binds.append(key.id)
        binds.append(Int64(entries.count))
        binds.append(epoch)
        if let snapshot { binds.append(ByteBuffer(bytes: snapshot)) } else { binds.appendNull() }
        var values: [String] = []
        for (offset, entry) in entries.enumerated() {
            binds.append(ByteBuffer(bytes: entry))
            values.append("(\(offset + 1), $\(offset + 6)::bytea)")
        }
        var sql = """
            WITH owner AS (
                UPDATE objects SET last_entry = last_entry + $3,
                    snapshot = COALESCE($5::bytea, snapshot),
                    snapshot_through = CASE WHEN $5::bytea IS NULL THEN snapshot_through ELSE last_entry + $3 END
                WHERE type = $1 AND id = $2 AND epoch = $4
                RETURNING last_entry)
            """
        if !values.isEmpty {
            sql += """
                , inserted AS (
                    INSERT INTO journal (type, id, number, entry)
                    SELECT $1, $2, owner.last_entry - $3 + v.ord, v.entry
                    FROM owner, (VALUES \(values.joined(separator: ", "))) AS v(ord, entry)
                    RETURNING 1)
                SELECT last_entry, (SELECT count(*) FROM inserted) FROM owner
                """
        } else {
            sql += " SELECT last_entry, 0::bigint FROM owner"
        }
        let (client, logger, query) = (self.client, self.logger, PostgresQuery(unsafeSQL: sql, binds: binds))
        do {
            let last: Int64? = try await bounded("writing \(key)") {
                var last: Int64?
                for try await (entry, _) in try await client.query(query, logger: logger).decode((Int64, Int64).self) { last = entry }
                return last
            }
            if let last { return last }
        } catch {
            throw Self.storeError(error)
        }
        throw StoreFenced(key: key, epoch: epoch, current: try await currentEpoch(key))
    }

    public func entries(of key: ObjectKey, after number: Int64, limit: Int) async throws -> [JournalEntry] {
        let (client, logger) = (self.client, self.logger)
        let query: PostgresQuery = """
            SELECT number, entry FROM journal WHERE type = \(key.type) AND id = \(key.id) AND number > \(number)
            ORDER BY number LIMIT \(Int64(limit))
            """
        do {
            return try await bounded("reading \(key)") {
                var entries: [JournalEntry] = []
                for try await (number, entry) in try await client.query(query, logger: logger).decode((Int64, ByteBuffer).self) {
                    entries.append(JournalEntry(number: number, bytes: Array(entry.readableBytesView)))
                }
                return entries
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    private func currentEpoch(_ key: ObjectKey) async throws -> Int64 {
        let (client, logger) = (self.client, self.logger)
        let query: PostgresQuery = "SELECT epoch FROM objects WHERE type = \(key.type) AND id = \(key.id)"
        do {
            return try await bounded("reading \(key)'s epoch") {
                var epoch: Int64 = 0
                for try await current in try await client.query(query, logger: logger).decode(Int64.self) { epoch = current }
                return epoch
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs `body`, or fails UNAVAILABLE after `operationTimeout` (cancelling it).
    private func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let (timeout, description) = (operationTimeout, self.description)
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw StoreUnavailable("\(what): no answer from \(description) within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// Checks `url`; returns it as logs may show it (no password).
    public static func parse(_ url: String) throws -> String {
        try PostgresLocation(url).description
    }

    public func close() async {
        runner.cancel()
        _ = await runner.value
    }

    /// Errors from postgres-nio as the runtime's: fencing passes through, everything
    /// else (unreachable, refused, failed) is UNAVAILABLE with what the driver said.
    static func storeError(_ error: Error) -> Error {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError { return storeError(inner) }
            return StoreUnavailable(explain(transaction.commitError ?? transaction.beginError ?? error))
        }
        if error is StoreFenced || error is StoreUnavailable || error is CancellationError { return error }
        return StoreUnavailable(explain(error))
    }

    static func explain(_ error: Error) -> String {
        if let psql = error as? PSQLError {
            if let message = psql.serverInfo?[.message] { return message }
            return "\(psql.code)"
        }
        return String(describing: error)
    }
}

/// `postgres://USER[:PASSWORD]@HOST:PORT/DB`, parsed; `description` leaves the password out.
struct PostgresLocation: CustomStringConvertible {
    let user: String
    let password: String?
    let host: String
    let port: Int
    let database: String

    init(_ url: String) throws {
        var rest = Substring(url)
        for scheme in ["postgres://", "postgresql://"] where rest.hasPrefix(scheme) { rest = rest.dropFirst(scheme.count) }
        guard rest.count < url.count else { throw PostgresLocationError(url: url, problem: "it does not start with postgres://") }
        guard let at = rest.lastIndex(of: "@") else { throw PostgresLocationError(url: url, problem: "no USER@ before the host") }
        let credentials = rest[..<at]
        let address = rest[rest.index(after: at)...]
        if let colon = credentials.firstIndex(of: ":") {
            user = String(credentials[..<colon])
            password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
        } else {
            user = String(credentials)
            password = nil
        }
        guard !user.isEmpty else { throw PostgresLocationError(url: url, problem: "the user is empty") }
        guard let slash = address.firstIndex(of: "/") else { throw PostgresLocationError(url: url, problem: "no /DB after the host") }
        database = String(address[address.index(after: slash)...])
        let hostPort = address[..<slash]
        guard !database.isEmpty else { throw PostgresLocationError(url: url, problem: "the database name is empty") }
        if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let port = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(port) else {
                throw PostgresLocationError(url: url, problem: "the port is not a number from 1 to 65535")
            }
            self.port = port
        } else {
            host = String(hostPort)
            port = 5432
        }
        guard !host.isEmpty else { throw PostgresLocationError(url: url, problem: "the host is empty") }
    }

    var description: String { "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" }
}

public struct PostgresLocationError: Error, CustomStringConvertible {
    let url: String
    let problem: String
    public var description: String {
        "--store \(url.replacingPassword()) is not postgres://USER[:PASSWORD]@HOST:PORT/DB: \(problem)"
    }
}

extension String {
    /// The URL with any password replaced, for messages.
    fileprivate func replacingPassword() -> String {
        guard let scheme = range(of: "://"), let at = lastIndex(of: "@"),
              let colon = self[scheme.upperBound..<at].firstIndex(of: ":") else { return self }
        return String(self[..<self.index(after: colon)]) + "***" + String(self[at...])
    }
}
