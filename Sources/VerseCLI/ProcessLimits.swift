#if canImport(Glibc)
import Glibc
#endif

/// Process limits servers and load generators need.
public enum ProcessLimits {
    /// Raises the open-file limit to its hard maximum: every client connection is a
    /// file descriptor, and the common soft default (1024) caps a gate or chat-bench
    /// far below the load it can carry.
    /// Returns the limit now in force (nil if it cannot be read).
    @discardableResult
    public static func raiseOpenFileLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return openFileLimit
    }

    /// The soft open-file limit in force.
    public static var openFileLimit: Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return limit.rlim_cur == rlim_t.max ? nil : Int(limit.rlim_cur) // RLIM_INFINITY: no limit
    }
}
