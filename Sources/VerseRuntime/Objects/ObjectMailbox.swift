import NIOConcurrencyHelpers

/// Runs an object's calls one at a time, in arrival order, each to completion.
///
/// Swift actors alone are re-entrant: at an `await` inside a method another call
/// could start. Virtual actors promise more (calls to one object never overlap), so
/// each call also holds the object's mailbox for its whole duration.
final class ObjectMailbox: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var waiterHead = 0
    }

    private let state = NIOLockedValueBox(State())

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        let mustWait = state.withLockedValue { state -> Bool in
            if !state.busy {
                state.busy = true
                return false
            }
            return true
        }
        guard mustWait else { return }
        await withCheckedContinuation { continuation in
            let granted = state.withLockedValue { state -> Bool in
                if !state.busy { // released between the two locks
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard state.waiterHead < state.waiters.count else {
                state.busy = false
                state.waiters.removeAll(keepingCapacity: true)
                state.waiterHead = 0
                return nil
            }
            let next = state.waiters[state.waiterHead]
            state.waiterHead += 1
            return next // stays busy: ownership passes straight to the next caller
        }
        next?.resume()
    }

    /// No call waiting or running.
    var isIdle: Bool { state.withLockedValue { !$0.busy } }

    /// Calls waiting or running.
    var depth: Int { state.withLockedValue { ($0.busy ? 1 : 0) + $0.waiters.count - $0.waiterHead } }
}
