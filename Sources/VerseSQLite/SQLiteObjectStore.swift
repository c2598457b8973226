import Logging
import NIOPosix
import VerseRuntime

/// The object store in one SQLite file, for one machine (`--store sqlite:PATH`; the
/// embedded mode's default). WAL journal with `synchronous=FULL`: a write is on disk
/// when it returns, so an acknowledged change survives a crash of the process or the
/// machine. SQLite serializes writers, so the store has one connection and one thread
/// of its own (blocking calls never run on an event loop).
public final class SQLiteObjectStore: ObjectStore, @unchecked Sendable {
    // @unchecked: `database` is touched only by blocks run on `thread`, one at a time.
    private let database: SQLiteDatabase
    private let thread: NIOThreadPool
    public let description: String

    /// The schema this build writes. A file with a newer one is refused, not guessed at.
    static let schemaVersion: Int64 = 1

    /// Opens (creating if needed) the file at `path` and brings its schema up to date.
    public init(path: String, logger: Logger = Logger(label: "swiftverse.store")) throws {
        description = "sqlite:\(path)"
        do {
            database = try SQLiteDatabase(path: path)
            try database.execute("PRAGMA journal_mode=WAL")
            try database.execute("PRAGMA synchronous=FULL")
            try database.execute("PRAGMA busy_timeout=5000")
            try Self.migrate(database, logger: logger)
        } catch let error as SQLiteError {
            throw StoreUnavailable("\(path): \(error)")
        }
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// Schema versions, each a step from the one before. `swiftverse_schema` holds the
    /// file's version.
    private static let migrations: [Int64: String] = [
        1: """
        CREATE TABLE objects (
            type TEXT NOT NULL, id TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            snapshot BLOB, snapshot_through INTEGER NOT NULL DEFAULT 0,
            last_entry INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (type, id)) WITHOUT ROWID;
        CREATE TABLE journal (
            type TEXT NOT NULL, id TEXT NOT NULL, number INTEGER NOT NULL, entry BLOB NOT NULL,
            PRIMARY KEY (type, id, number)) WITHOUT ROWID;
        """,
    ]

    private static func migrate(_ database: SQLiteDatabase, logger: Logger) throws {
        try database.execute("CREATE TABLE IF NOT EXISTS swiftverse_schema (version INTEGER NOT NULL)")
        let read = try database.statement("SELECT version FROM swiftverse_schema")
        let version = try read.step() ? read.integer(0) : 0
        read.reset()
        guard version <= schemaVersion else {
            throw StoreUnavailable("\(database.path) has schema version \(version), newer than this build's \(schemaVersion): upgrade SwiftVerse")
        }
        guard version < schemaVersion else { return }
        try database.transaction {
            for step in (version + 1)...schemaVersion {
                try database.execute(migrations[step]!)
            }
            try database.execute("DELETE FROM swiftverse_schema")
            try database.execute("INSERT INTO swiftverse_schema (version) VALUES (\(schemaVersion))")
        }
        logger.info("object store schema at version \(schemaVersion)", metadata: ["store": "\(database.path)"])
    }

    public func activate(_ key: ObjectKey) async throws -> StoredObject {
        try await run { database in
            try database.transaction {
                let claim = try database.statement("""
                    INSERT INTO objects (type, id, epoch) VALUES (?1, ?2, 1)
                    ON CONFLICT (type, id) DO UPDATE SET epoch = epoch + 1
                    RETURNING epoch, snapshot, snapshot_through
                    """)
                try claim.bind(.text(key.type), .text(key.id))
                guard try claim.step() else { throw StoreUnavailable("activating \(key) returned no row") }
                var stored = StoredObject(epoch: claim.integer(0), snapshot: claim.isNull(1) ? nil : claim.blob(1),
                                          snapshotThrough: claim.integer(2))
                claim.reset()
                let entries = try database.statement(
                    "SELECT number, entry FROM journal WHERE type = ?1 AND id = ?2 AND number > ?3 ORDER BY number")
                try entries.bind(.text(key.type), .text(key.id), .integer(stored.snapshotThrough))
                while try entries.step() {
                    stored.entries.append(JournalEntry(number: entries.integer(0), bytes: entries.blob(1)))
                }
                entries.reset()
                return stored
            }
        }
    }

    public func write(_ key: ObjectKey, epoch: Int64, entries: [[UInt8]], snapshot: [UInt8]?) async throws -> Int64 {
        try await run { database in
            try database.transaction {
                let read = try database.statement("SELECT epoch, last_entry FROM objects WHERE type = ?1 AND id = ?2")
                try read.bind(.text(key.type), .text(key.id))
                guard try read.step() else { throw StoreFenced(key: key, epoch: epoch, current: 0) }
                let (current, last) = (read.integer(0), read.integer(1))
                read.reset()
                guard current == epoch else { throw StoreFenced(key: key, epoch: epoch, current: current) }
                let insert = try database.statement("INSERT INTO journal (type, id, number, entry) VALUES (?1, ?2, ?3, ?4)")
                var number = last
                for entry in entries {
                    number += 1
                    insert.reset()
                    try insert.bind(.text(key.type), .text(key.id), .integer(number), .blob(entry))
                    try insert.step()
                }
                insert.reset()
                if let snapshot {
                    let save = try database.statement(
                        "UPDATE objects SET snapshot = ?3, snapshot_through = ?4, last_entry = ?4 WHERE type = ?1 AND id = ?2")
                    try save.bind(.text(key.type), .text(key.id), .blob(snapshot), .integer(number))
                    try save.step()
                    save.reset()
                } else {
                    let advance = try database.statement("UPDATE objects SET last_entry = ?3 WHERE type = ?1 AND id = ?2")
                    try advance.bind(.text(key.type), .text(key.id), .integer(number))
                    try advance.step()
                    advance.reset()
                }
                return number
            }
        }
    }

    public func entries(of key: ObjectKey, after number: Int64, limit: Int) async throws -> [JournalEntry] {
        try await run { database in
            let read = try database.statement(
                "SELECT number, entry FROM journal WHERE type = ?1 AND id = ?2 AND number > ?3 ORDER BY number LIMIT ?4")
            try read.bind(.text(key.type), .text(key.id), .integer(number), .integer(Int64(limit)))
            var entries: [JournalEntry] = []
            while try read.step() { entries.append(JournalEntry(number: read.integer(0), bytes: read.blob(1))) }
            read.reset()
            return entries
        }
    }

    /// Runs `body` on the store's thread; SQLite's errors become `StoreUnavailable`.
    private func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws -> T {
        let database = self.database
        do {
            return try await thread.runIfActive { try body(database) }
        } catch let error as SQLiteError {
            throw StoreUnavailable("\(database.path): \(error)")
        }
    }

    public func close() async {
        try? await thread.shutdownGracefully()
    }
}
