import NIOConcurrencyHelpers

/// Tells the nodes which clients left, in batches.
///
/// One report is in flight at a time; clients that leave meanwhile wait and go in the
/// next one. When a shared connection drops (a hundred clients at once) or a gate's
/// clients all leave together, the nodes get a few ClientGone calls instead of one per
/// client per node, and no task is started per client.
final class DepartureReporter: Sendable {
    private struct State {
        var pending: [String] = []
        var reporting = false
    }

    private let state = NIOLockedValueBox(State())
    private let report: @Sendable ([String]) async -> Void

    init(report: @escaping @Sendable ([String]) async -> Void) {
        self.report = report
    }

    func clientLeft(_ clientID: String) {
        let start = state.withLockedValue { state -> Bool in
            state.pending.append(clientID)
            guard !state.reporting else { return false }
            state.reporting = true
            return true
        }
        if start { Task { await self.drain() } }
    }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [String] in
                let batch = state.pending
                state.pending = []
                if batch.isEmpty { state.reporting = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await report(batch)
        }
    }
}
