/// Which of its shards a node lets calls into, and the calls running in each: a call
/// enters only a shard the map says the node owns, that is not being released, while
/// the node is not suspended. Releasing a shard closes it to new calls and waits for
/// the running ones (a drain, resumed by the last call out, not polled).
/// A value kept under the node's lock; the node resumes the drains it returns.
struct ShardGate {
    /// Shards being handed over: no new calls, waiting for running ones.
    private(set) var releasing: Set<Int> = []
    private var callsInFlight: [Int: Int] = [:]
    /// `release` calls waiting for their shards' running calls to end.
    private var drains: [(shards: Set<Int>, done: CheckedContinuation<Void, Never>)] = []
    /// No shard is served (the node's lease expired; see `Node.suspendServing`).
    var suspended = false
    /// Until when the node's membership is confirmed: its lease cannot have expired
    /// before then, so no other node can have claimed its shards. Activating a durable
    /// object takes ownership of its state in the store, so only a node inside this
    /// window may do it.
    var membershipConfirmedUntil = ContinuousClock.Instant.now - .seconds(1)

    /// Lets a call into `shard` (counted until `leave`) if the node serves it.
    mutating func enter(_ shard: Int, owned: Bool) -> Bool {
        guard owned, !suspended, !releasing.contains(shard) else { return false }
        callsInFlight[shard, default: 0] += 1
        return true
    }

    /// A call left `shard`. Returns the drains this finished, to resume outside the lock.
    mutating func leave(_ shard: Int) -> [CheckedContinuation<Void, Never>] {
        callsInFlight[shard, default: 1] -= 1
        guard callsInFlight[shard] == 0 else { return [] }
        callsInFlight[shard] = nil
        guard !drains.isEmpty else { return [] }
        var finished: [CheckedContinuation<Void, Never>] = []
        drains.removeAll { drain in
            let done = !drain.shards.contains { callsInFlight[$0] != nil }
            if done { finished.append(drain.done) }
            return done
        }
        return finished
    }

    /// Closes `shards` to new calls. True if none has a call running (the caller resumes
    /// `done` itself); otherwise `done` is resumed by the last `leave`.
    mutating func release(_ shards: Set<Int>, done: CheckedContinuation<Void, Never>) -> Bool {
        releasing.formUnion(shards)
        guard shards.contains(where: { callsInFlight[$0] != nil }) else { return true }
        drains.append((shards, done))
        return false
    }

    /// A released shard stays closed until the map shows it gone from this node.
    mutating func keepReleasing(where stillOwned: (Int) -> Bool) {
        releasing = releasing.filter(stillOwned)
    }
}
