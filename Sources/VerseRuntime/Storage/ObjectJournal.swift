import NIOConcurrencyHelpers
import NIOCore

/// One activation's writes to the object store, in the order recorded, group-committed:
/// whatever is recorded while a write is in flight goes together in the next write
/// (one transaction, one round trip), so the cost per change falls as load rises.
///
/// A call that recorded something answers only once it is durable (`waitUntilDurable`);
/// actions that must not run before (pushes of what was recorded) wait in
/// `afterDurable`. A failed write fails every change not yet durable, and the journal
/// takes no more: the object's memory is ahead of the store, so its node drops it and
/// the next call activates it again from what is stored.
final class ObjectJournal: Sendable {
    private enum Item {
        case entry([UInt8])
        /// The object's whole state, as of the entries before it.
        case snapshot([UInt8])
    }

    private struct State {
        var queue: [(ticket: Int, item: Item)] = []
        var lastTicket = 0
        var durableTicket = 0
        var writing = false
        var failure: Error?
        var waiters: [(ticket: Int, continuation: CheckedContinuation<Void, Error>)] = []
        var actions: [(ticket: Int, action: @Sendable () -> Void)] = []
    }

    let store: any ObjectStore
    let key: ObjectKey
    let epoch: Int64
    /// The object's event loop: actions run there, in the order they were queued, so the
    /// object's pushes leave in one order whichever thread a write completes on.
    private let eventLoop: EventLoop
    private let statistics: StoreStatistics
    private let state = NIOLockedValueBox(State())
    /// Told once when a write fails (the node drops the object).
    private let onFailure: @Sendable (ObjectJournal, Error) -> Void

    init(store: any ObjectStore, key: ObjectKey, epoch: Int64, eventLoop: EventLoop, statistics: StoreStatistics,
         onFailure: @escaping @Sendable (ObjectJournal, Error) -> Void) {
        self.store = store
        self.key = key
        self.epoch = epoch
        self.eventLoop = eventLoop
        self.statistics = statistics
        self.onFailure = onFailure
    }

    /// Queues an entry; returns its ticket (what `waitUntilDurable` waits for).
    @discardableResult
    func record(_ entry: [UInt8]) -> Int { enqueue(.entry(entry)) }

    @discardableResult
    func saveSnapshot(_ state: [UInt8]) -> Int { enqueue(.snapshot(state)) }

    /// The last ticket not yet durable, if any.
    var pendingTicket: Int? {
        state.withLockedValue { $0.lastTicket > $0.durableTicket ? $0.lastTicket : nil }
    }

    func waitUntilDurable(_ ticket: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let outcome = state.withLockedValue { state -> Result<Void, Error>? in
                if let failure = state.failure { return .failure(failure) }
                if state.durableTicket >= ticket { return .success(()) }
                state.waiters.append((ticket, continuation))
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Runs `action` once everything recorded so far is durable, after the actions
    /// queued before it (now, if nothing is waiting); never, if a write fails first.
    func afterDurable(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLockedValue { state -> Bool in
            guard state.failure == nil else { return false }
            // An earlier action not yet run (its write just completed, its turn on the
            // loop still to come) goes first: a later push must not overtake it.
            guard state.lastTicket > state.durableTicket || !state.actions.isEmpty else { return true }
            state.actions.append((state.lastTicket, action))
            return false
        }
        if runNow { action() }
    }

    /// On `eventLoop`: the queued actions whose entries are durable, oldest first.
    private func runDurableActions() {
        let ready = state.withLockedValue { state -> [@Sendable () -> Void] in
            let count = state.actions.prefix { $0.ticket <= state.durableTicket }.count
            defer { state.actions.removeFirst(count) }
            return state.actions.prefix(count).map(\.action)
        }
        for action in ready { action() }
    }

    private func enqueue(_ item: Item) -> Int {
        let (ticket, start) = state.withLockedValue { state -> (Int, Bool) in
            state.lastTicket += 1
            guard state.failure == nil else { return (state.lastTicket, false) }
            state.queue.append((state.lastTicket, item))
            defer { state.writing = true }
            return (state.lastTicket, !state.writing)
        }
        if start { Task { await self.writeQueued() } }
        return ticket
    }

    /// Writes batches until the queue is empty: each batch is everything queued, up to
    /// and including the first snapshot.
    private func writeQueued() async {
        while true {
            let batch = state.withLockedValue { state -> (entries: [[UInt8]], snapshot: [UInt8]?, through: Int)? in
                guard !state.queue.isEmpty else {
                    state.writing = false
                    return nil
                }
                var entries: [[UInt8]] = [], snapshot: [UInt8]?, taken = 0
                for (_, item) in state.queue {
                    taken += 1
                    if case .entry(let bytes) = item { entries.append(bytes) }
                    if case .snapshot(let bytes) = item {
                        snapshot = bytes
                        break
                    }
                }
                let through = state.queue[taken - 1].ticket
                state.queue.removeFirst(taken)
                return (entries, snapshot, through)
            }
            guard let batch else { return }
            do {
                let started = ContinuousClock.now
                _ = try await store.write(key, epoch: epoch, entries: batch.entries, snapshot: batch.snapshot)
                statistics.recordWrite(entries: batch.entries.count, took: ContinuousClock.now - started)
                let waiters = state.withLockedValue { state in
                    state.durableTicket = batch.through
                    let waiters = state.waiters.filter { $0.ticket <= batch.through }.map(\.continuation)
                    state.waiters.removeAll { $0.ticket <= batch.through }
                    return waiters
                }
                // Pushes first: by the time a caller has its answer, they are on their way.
                eventLoop.execute {
                    self.runDurableActions()
                    for waiter in waiters { waiter.resume() }
                }
            } catch {
                statistics.recordFailedWrite()
                let waiters = state.withLockedValue { state in
                    state.failure = error
                    state.queue.removeAll()
                    state.actions.removeAll()
                    state.writing = false
                    defer { state.waiters.removeAll() }
                    return state.waiters.map(\.continuation)
                }
                // The object goes first, so a caller that retries finds it gone.
                onFailure(self, error)
                for waiter in waiters { waiter.resume(throwing: error) }
                return
            }
        }
    }
}
