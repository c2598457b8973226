import ArgumentParser
import Foundation
import Logging
import VerseRuntime
import VerseSQLite

/// Where durable objects keep their state (`--store`, env SWIFTVERSE_STORE):
/// `none` (in memory only), `sqlite:PATH` (one machine), or, for clusters,
/// `postgres://USER[:PASSWORD]@HOST:PORT/DB`.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case none
    case sqlite(path: String)

    public init(parsing text: String) throws {
        if text == "none" {
            self = .none
        } else if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ValidationError("--store sqlite: needs a file path, e.g. sqlite:/var/lib/swiftverse/chat.sqlite") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            throw ValidationError("--store postgres:// is not available in this build yet; use sqlite:PATH or none")
        } else {
            throw ValidationError("--store takes none, sqlite:PATH or postgres://USER[:PASSWORD]@HOST:PORT/DB, not \"\(text)\"")
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .sqlite(let path): "sqlite:\(path)"
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

    /// Opens the store (creating a SQLite file's folder if needed).
    public func open(logger: Logger) throws -> (any ObjectStore)? {
        switch self {
        case .none:
            return nil
        case .sqlite(let path):
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            return try SQLiteObjectStore(path: path, logger: logger)
        }
    }
}
