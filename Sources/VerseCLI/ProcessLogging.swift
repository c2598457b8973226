import ArgumentParser
import Foundation
import Logging

/// Logging setup shared by every executable: swift-log to standard error at a level
/// chosen on the command line, as text or as JSON lines.
public enum ProcessLogging {
    public enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// swift-log's own line: `<time> <level> <label>: <metadata> <message>`.
        case text
        /// One JSON object per line: timestamp, level, label, message, metadata.
        case json
    }

    public static func bootstrap(level: Logger.Level, format: Format = .text) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// One JSON object per log line on standard error, for log shippers:
/// `{"timestamp":"2026-12-01T14:50:00.123456Z","level":"info","label":"gate","message":"...","metadata":{...}}`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let label: String

    public init(label: String) {
        self.label = label
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { _, new in new } }
        var object: [String: Any] = [
            "timestamp": Self.timestamp(), "level": event.level.rawValue, "label": label, "message": "\(event.message)",
            "metadata": fields.mapValues(Self.json), "source": event.source,
        ]
        if let error = event.error { object["error"] = "\(error)" }
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardError.write(line) // one write per line
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }

    /// UTC, microseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_nsec / 1000))
    }
}

// Lets executables take `--log-level debug` (trace, debug, info, notice, warning, error, critical).
extension Logger.Level: @retroactive ExpressibleByArgument {}
