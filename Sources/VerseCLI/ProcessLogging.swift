import ArgumentParser
import Logging

/// Logging setup shared by every executable: swift-log to standard error at a level
/// chosen on the command line.
public enum ProcessLogging {
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

// Lets executables take `--log-level debug` (trace, debug, info, notice, warning, error, critical).
extension Logger.Level: @retroactive ExpressibleByArgument {}
