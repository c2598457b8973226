import Foundation

/// A process as Linux's /proc reports it: this one (`self`) or another by PID (the
/// server chat-bench measures).
public enum ProcessStats {
    /// User plus system CPU time, in seconds.
    public static func cpuSeconds(_ pid: String = "self") -> Double? {
        cpuTime(pid)?.total
    }

    /// User and system CPU seconds of a process so far (from /proc/PID/stat).
    public static func cpuTime(_ pid: String = "self") -> CPUTime? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "(comm)": state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return CPUTime(user: user / ticks, system: system / ticks)
    }

    /// Resident set size, in bytes.
    public static func residentBytes(_ pid: String = "self") -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let number = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return number.map { $0 * 1024 }
        }
        return nil
    }

    /// File descriptors open.
    public static func openFiles(_ pid: String = "self") -> Int? {
        try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }
}

/// CPU seconds spent in user space and in the kernel; sums and differences of readings
/// (several processes, a measured window) are taken field by field.
public struct CPUTime: AdditiveArithmetic, Sendable {
    public var user: Double
    public var system: Double
    public var total: Double { user + system }

    public init(user: Double, system: Double) {
        self.user = user
        self.system = system
    }

    public static let zero = CPUTime(user: 0, system: 0)

    public static func + (lhs: CPUTime, rhs: CPUTime) -> CPUTime {
        CPUTime(user: lhs.user + rhs.user, system: lhs.system + rhs.system)
    }

    public static func - (end: CPUTime, start: CPUTime) -> CPUTime {
        CPUTime(user: end.user - start.user, system: end.system - start.system)
    }
}
