import Foundation

/// A process as Linux's /proc reports it: this one (`self`) or another by PID (the
/// server chat-bench measures).
public enum ProcessStats {
    /// User plus system CPU time, in seconds.
    public static func cpuSeconds(_ pid: String = "self") -> Double? {
        cpuTime(pid).map { $0.user + $0.system }
    }

    /// User and system CPU seconds of a process so far (from /proc/PID/stat).
    public static func cpuTime(_ pid: String = "self") -> (user: Double, system: Double)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "(comm)": state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user / ticks, system / ticks)
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
