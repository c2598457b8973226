/// What coordination needs from a consistent store: keys with revisions, leases that
/// expire unless kept alive, compare-and-swap writes, and ordered watches. etcd is one
/// (`EtcdClusterStore`); `InMemoryClusterStore` is another, for one process (the
/// embedded mode) and for model tests. `ShardCoordinator` builds membership, leader
/// election and the shard map on top, the same way on both.
public protocol ClusterStore: Sendable {
    /// A new lease of `ttl` seconds (the store may raise it to its minimum).
    func grantLease(ttl: Int64) async throws -> StoreLease
    /// Refreshes `lease` every `interval` until cancelled. Returns when the store says
    /// the lease is gone (expired or revoked); throws when the store cannot be reached.
    /// After each confirmed refresh, `renewed` gets the time its request was sent: the
    /// lease lasts at least until then plus its TTL.
    func keepAlive(_ lease: StoreLease, every interval: Duration,
                   renewed: @escaping @Sendable (ContinuousClock.Instant) -> Void) async throws
    /// Ends `lease` now, deleting the keys attached to it.
    func revokeLease(_ id: Int64) async throws

    /// The entry at `key`, or nil.
    func get(_ key: String) async throws -> StoreEntry?
    /// Every entry under `prefix`, and the store revision the listing reflects (watch
    /// from `revision + 1` to see every later change).
    func list(prefix: String) async throws -> (entries: [StoreEntry], revision: Int64)
    /// Stores `value` at `key`, attached to `lease` when non-zero.
    func put(_ key: String, _ value: [UInt8], lease: Int64) async throws
    /// Stores `value` at `key` only if every key in `conditions` has the mod revision
    /// given for it (0: the key must be absent), atomically. Returns whether it wrote.
    func put(_ key: String, _ value: [UInt8], ifModRevisions conditions: [String: Int64], lease: Int64) async throws -> Bool
    /// Changes under `prefix` from `revision` on, in store order, one batch per change
    /// or per store response. Throws when the watch breaks; callers list and watch again.
    func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<[StoreEvent], Error>

    func close() async
}

extension ClusterStore {
    /// Compare-and-swap on one key: writes only if `key`'s mod revision is `expected`.
    public func put(_ key: String, _ value: [UInt8], ifModRevision expected: Int64, lease: Int64) async throws -> Bool {
        try await put(key, value, ifModRevisions: [key: expected], lease: lease)
    }
}

public struct StoreLease: Sendable, Equatable {
    public var id: Int64
    /// Seconds, as granted.
    public var ttl: Int64
    public init(id: Int64, ttl: Int64) {
        self.id = id
        self.ttl = ttl
    }
}

public struct StoreEntry: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    /// The store revision of the entry's last write (the compare-and-swap token).
    public var modRevision: Int64
    public init(key: String, value: [UInt8], modRevision: Int64) {
        self.key = key
        self.value = value
        self.modRevision = modRevision
    }
}

public struct StoreEvent: Sendable, Equatable {
    public enum Kind: Sendable { case put, delete }
    public var kind: Kind
    /// For a delete: the key, an empty value and the revision of the delete.
    public var entry: StoreEntry
    public init(kind: Kind, entry: StoreEntry) {
        self.kind = kind
        self.entry = entry
    }
}

/// A watch asked for revisions the store no longer keeps.
public struct StoreWatchCompacted: Error, CustomStringConvertible {
    public var requested: Int64
    public var oldest: Int64
    public var description: String { "the store no longer keeps revision \(requested) (oldest kept: \(oldest))" }
}
