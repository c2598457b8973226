#if canImport(Glibc)
import Glibc
#endif

/// CPUs this process may run on.
public enum ProcessCPUs {
    /// The count in the scheduler affinity mask (what `taskset` restricts), not the
    /// machine's: a process pinned to one CPU gains nothing from a second event loop
    /// but context switches. Read from /proc/self/status (`Cpus_allowed`, a hex mask).
    public static var available: Int {
        if let file = fopen("/proc/self/status", "r") {
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 512)
            while fgets(&line, Int32(line.count), file) != nil {
                let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard text.hasPrefix("Cpus_allowed:") else { continue }
                let count = text.dropFirst("Cpus_allowed:".count).reduce(0) { sum, character in
                    sum + (character.hexDigitValue?.nonzeroBitCount ?? 0)
                }
                if count > 0 { return count }
            }
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}
