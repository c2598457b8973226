import ArgumentParser
import Foundation
import Logging
import NIOPosix
import VersePostgres
import VerseRuntime
import VerseSQLite

/// Where durable objects keep their state (`--store`, env SWIFTVERSE_STORE):
/// `none` (in memory only), `sqlite:PATH` (one machine), or, for clusters,
/// `postgres://USER[:PASSWORD]@HOST:PORT/DB`.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case none
    case sqlite(path: String)
    case postgres(url: String)

    public init(parsing text: String) throws {
        if text == "none" {
            self = .none
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ValidationError("--store sqlite: needs a file path, e.g. sqlite:/var/lib/swiftverse/chat.sqlite") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            do {
                _ = try PostgresObjectStore.parse(text)
            } catch {
                throw ValidationError("\(error)")
            }
            self = .postgres(url: text)
        } else {
            throw ValidationError("--store takes none, sqlite:PATH or postgres://USER[:PASSWORD]@HOST:PORT/DB, not \"\(text)\"")
        }
    }

    /// As logs may show it: never a password.
    public var description: String {
        switch self {
        case .none: "none"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): (try? PostgresObjectStore.parse(url)) ?? "postgres://..."
        }
    }

    /// The embedded mode's default: a file in the user's data directory
    /// (`$XDG_DATA_HOME/swiftverse/`, else `~/.local/share/swiftverse/`).
    public static func defaultSQLite(named name: String) -> StoreLocation {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        return .sqlite(path: "\(base)/swiftverse/\(name)")
    }

    /// Opens the store (creating a SQLite file's folder if needed). A PostgreSQL store is
    /// returned once the database answers, retried with backoff until then (logged): a
    /// node does not join the cluster before its store works.
    public func open(logger: Logger) async throws -> (any ObjectStore)? {
        switch self {
        case .none:
            return nil
        case .sqlite(let path):
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            return try SQLiteObjectStore(path: path, logger: logger)
        case .postgres(let url):
            let store = try PostgresObjectStore(url: url, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
            try await store.waitUntilReady()
            return store
        }
    }
}
