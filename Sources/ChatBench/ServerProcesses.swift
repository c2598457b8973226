import VerseCLI

/// The server processes a run measures (--server-pid): one gate, or every process of a
/// cluster, whose CPU time and memory are summed (the cost of the whole service).
struct ServerProcesses {
    let pids: [Int32]

    /// CPU seconds so far, user and system, summed; nil without processes or if one is gone.
    var cpuTime: CPUTime? {
        summed { ProcessStats.cpuTime($0).map { CPUTime(user: $0.user, system: $0.system) } }
    }

    /// Resident bytes, summed.
    var residentBytes: Int? { summed(ProcessStats.residentBytes) }

    private func summed<Value: AdditiveArithmetic>(_ read: (String) -> Value?) -> Value? {
        guard !pids.isEmpty else { return nil }
        var total = Value.zero
        for pid in pids {
            guard let value = read("\(pid)") else { return nil }
            total += value
        }
        return total
    }
}

struct CPUTime: AdditiveArithmetic {
    var user: Double
    var system: Double
    var total: Double { user + system }

    static let zero = CPUTime(user: 0, system: 0)

    static func + (lhs: CPUTime, rhs: CPUTime) -> CPUTime {
        CPUTime(user: lhs.user + rhs.user, system: lhs.system + rhs.system)
    }

    static func - (end: CPUTime, start: CPUTime) -> CPUTime {
        CPUTime(user: end.user - start.user, system: end.system - start.system)
    }
}
