#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time, for timestamps people read (chat messages, member records); never
/// for measuring intervals.
public enum WallClock {
    /// Microseconds since the Unix epoch.
    public static func unixMicros() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}
