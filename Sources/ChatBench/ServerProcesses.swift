import VerseCLI

/// The server processes a run measures (--server-pid): one gate, or every process of a
/// cluster, whose CPU time and memory are summed (the cost of the whole service).
struct ServerProcesses {
    let pids: [Int32]

    /// CPU seconds so far, user and system, summed; nil without processes or if one is gone.
    var cpuTime: CPUTime? { summed(ProcessStats.cpuTime) }

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
