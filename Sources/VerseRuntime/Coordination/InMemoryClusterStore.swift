import NIOConcurrencyHelpers

/// The cluster store in this process's memory: what etcd offers `ShardCoordinator`
/// (revisions, leases, compare-and-swap, ordered watches), for one process (the
/// embedded mode runs the same coordinator as a cluster does, on this store) and for
/// model tests, which drive its clock by hand.
///
/// Leases expire on the store's clock: expiry is checked whenever the store is used
/// (`expireLeases()`), which is enough for one process, whose own keep-alive uses it.
public final class InMemoryClusterStore: ClusterStore {
    /// The store's time. Real time by default; tests pass a clock they advance.
    public typealias Now = @Sendable () -> ContinuousClock.Instant

    /// Changes kept for watches that start in the past (older ones are compacted away).
    static let retainedEvents = 4096

    private struct Lease {
        var ttl: Int64
        var expires: ContinuousClock.Instant
        var keys: Set<String> = []
    }

    private struct Stored {
        var entry: StoreEntry
        var lease: Int64
    }

    private struct Watcher {
        var prefix: String
        var continuation: AsyncThrowingStream<[StoreEvent], Error>.Continuation
    }

    private struct State {
        var revision: Int64 = 0
        var entries: [String: Stored] = [:]
        var leases: [Int64: Lease] = [:]
        var nextLease: Int64 = 1
        /// (revision, event), oldest first.
        var log: [StoreEvent] = []
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())
    private let now: Now

    public init(now: @escaping Now = { .now }) {
        self.now = now
    }

    /// The store's current revision (bumped by every change).
    public var revision: Int64 { state.withLockedValue { $0.revision } }

    // MARK: leases

    public func grantLease(ttl: Int64) async throws -> StoreLease {
        grantLeaseNow(ttl: ttl)
    }

    /// `grantLease`, for callers that step the store synchronously (model tests).
    public func grantLeaseNow(ttl: Int64) -> StoreLease {
        let now = self.now()
        return mutate { state in
            let id = state.nextLease
            state.nextLease += 1
            state.leases[id] = Lease(ttl: ttl, expires: now + .seconds(ttl))
            return StoreLease(id: id, ttl: ttl)
        }
    }

    public func keepAlive(_ lease: StoreLease, every interval: Duration,
                          renewed: @escaping @Sendable (ContinuousClock.Instant) -> Void) async throws {
        while true {
            let sent = now()
            guard refresh(lease.id) else { return }
            renewed(sent)
            try await Task.sleep(for: interval)
        }
    }

    /// Extends `lease` by its TTL from now; false if it has already expired or been revoked.
    public func refresh(_ id: Int64) -> Bool {
        let now = self.now()
        return mutate { state in
            guard var lease = state.leases[id] else { return false }
            lease.expires = now + .seconds(lease.ttl)
            state.leases[id] = lease
            return true
        }
    }

    public func revokeLease(_ id: Int64) async throws {
        revokeLeaseNow(id)
    }

    public func revokeLeaseNow(_ id: Int64) {
        mutate { state in Self.end(lease: id, in: &state) }
    }

    /// Deletes the keys of leases whose time has passed (every operation does this first).
    public func expireLeases() {
        mutate { _ in }
    }

    // MARK: keys

    public func get(_ key: String) async throws -> StoreEntry? {
        getNow(key)
    }

    public func getNow(_ key: String) -> StoreEntry? {
        mutate { state in state.entries[key]?.entry }
    }

    public func list(prefix: String) async throws -> (entries: [StoreEntry], revision: Int64) {
        listNow(prefix: prefix)
    }

    public func listNow(prefix: String) -> (entries: [StoreEntry], revision: Int64) {
        mutate { state in
            let entries = state.entries.values.map(\.entry).filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
            return (entries, state.revision)
        }
    }

    public func put(_ key: String, _ value: [UInt8], lease: Int64) async throws {
        try putNow(key, value, lease: lease)
    }

    public func putNow(_ key: String, _ value: [UInt8], lease: Int64) throws {
        try mutate { state in try Self.write(key, value, lease: lease, in: &state) }
    }

    public func put(_ key: String, _ value: [UInt8], ifModRevisions conditions: [String: Int64], lease: Int64) async throws -> Bool {
        try putNow(key, value, ifModRevisions: conditions, lease: lease)
    }

    public func putNow(_ key: String, _ value: [UInt8], ifModRevisions conditions: [String: Int64], lease: Int64) throws -> Bool {
        try mutate { state in
            guard conditions.allSatisfy({ (state.entries[$0.key]?.entry.modRevision ?? 0) == $0.value }) else { return false }
            try Self.write(key, value, lease: lease, in: &state)
            return true
        }
    }

    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<[StoreEvent], Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [StoreEvent].self)
        let id = mutate { state -> Int? in
            if state.closed {
                continuation.finish(throwing: StoreClosed())
                return nil
            }
            let oldest = state.log.first?.entry.modRevision ?? state.revision + 1
            if revision < oldest && revision <= state.revision {
                continuation.finish(throwing: StoreWatchCompacted(requested: revision, oldest: oldest))
                return nil
            }
            let past = state.log.filter { $0.entry.modRevision >= revision && $0.entry.key.hasPrefix(prefix) }
            if !past.isEmpty { continuation.yield(past) }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = Watcher(prefix: prefix, continuation: continuation)
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                self?.state.withLockedValue { _ = $0.watchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    /// Ends every watch (and refuses new ones).
    public func close() async {
        let watchers = state.withLockedValue { state in
            state.closed = true
            defer { state.watchers.removeAll() }
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.continuation.finish(throwing: StoreClosed()) }
    }

    // MARK: changes

    /// Runs `change` under the lock after expiring due leases, then hands the events it
    /// logged to the watchers (in revision order: delivery is under the same lock).
    private func mutate<T>(_ change: (inout State) throws -> T) rethrows -> T {
        let now = self.now()
        return try state.withLockedValue { state in
            let logged = state.log.count
            for (id, lease) in state.leases where lease.expires <= now { Self.end(lease: id, in: &state) }
            let result = try change(&state)
            if state.log.count > logged {
                let events = Array(state.log[logged...])
                for watcher in state.watchers.values {
                    let matching = events.filter { $0.entry.key.hasPrefix(watcher.prefix) }
                    if !matching.isEmpty { watcher.continuation.yield(matching) }
                }
                if state.log.count > Self.retainedEvents { state.log.removeFirst(state.log.count - Self.retainedEvents) }
            }
            return result
        }
    }

    private static func write(_ key: String, _ value: [UInt8], lease: Int64, in state: inout State) throws {
        if lease != 0 {
            guard state.leases[lease] != nil else { throw StoreLeaseNotFound(lease: lease) }
            state.leases[lease]?.keys.insert(key)
        }
        if let previous = state.entries[key]?.lease, previous != 0, previous != lease {
            state.leases[previous]?.keys.remove(key)
        }
        state.revision += 1
        let entry = StoreEntry(key: key, value: value, modRevision: state.revision)
        state.entries[key] = Stored(entry: entry, lease: lease)
        state.log.append(StoreEvent(kind: .put, entry: entry))
    }

    private static func end(lease id: Int64, in state: inout State) {
        guard let lease = state.leases.removeValue(forKey: id) else { return }
        for key in lease.keys.sorted() where state.entries[key]?.lease == id {
            state.entries[key] = nil
            state.revision += 1
            state.log.append(StoreEvent(kind: .delete, entry: StoreEntry(key: key, value: [], modRevision: state.revision)))
        }
    }
}

/// A write named a lease the store does not have (it expired, or was revoked).
public struct StoreLeaseNotFound: Error, CustomStringConvertible {
    public var lease: Int64
    public var description: String { "lease \(lease) not found (expired or revoked)" }
}

public struct StoreClosed: Error, CustomStringConvertible {
    public var description: String { "the cluster store is closed" }
}
