import VerseCLI

/// The server processes a run measures (--server-pid): one gate, or every process of a
/// cluster, whose CPU time and memory are summed (the cost of the whole service).
struct ServerProcesses {
    let pids: [Int32]

    /// CPU seconds so far, user and system, summed; nil without processes or if one is gone.
    var cpuTime: CPUTime? {
        guard !pids.isEmpty else { return nil }
        var total = CPUTime(user: 0, system: 0)
        for pid in pids {
            guard let time = ProcessStats.cpuTime("\(pid)") else { return nil }
            total.user += time.user
            total.system += time.system
        }
        return total
    }

    /// Resident bytes, summed.
    var residentBytes: Int? {
        guard !pids.isEmpty else { return nil }
        var total = 0
        for pid in pids {
            guard let bytes = ProcessStats.residentBytes("\(pid)") else { return nil }
            total += bytes
        }
        return total
    }
}

struct CPUTime {
    var user: Double
    var system: Double
    var total: Double { user + system }

    static func - (end: CPUTime, start: CPUTime) -> CPUTime {
        CPUTime(user: end.user - start.user, system: end.system - start.system)
    }
}
