#if canImport(Glibc)
import Glibc
#endif

/// Process limits servers and load generators need.
public enum ProcessLimits {
    /// Raises the open-file limit to its hard maximum: every client connection is a
    /// file descriptor, and the common soft default (1024) caps a gate or chat-bench
    /// far below the load it can carry.
    public static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
