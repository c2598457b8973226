import VerseEtcd

/// The cluster store on a real etcd (its KV, Lease and Watch services).
struct EtcdClusterStore: ClusterStore {
    let etcd: EtcdClient

    func grantLease(ttl: Int64) async throws -> StoreLease {
        let lease = try await etcd.grantLease(ttl: ttl)
        return StoreLease(id: lease.id, ttl: lease.ttl)
    }

    func keepAlive(_ lease: StoreLease, every interval: Duration,
                   renewed: @escaping @Sendable (ContinuousClock.Instant) -> Void) async throws {
        try await etcd.keepAlive(lease: lease.id, every: interval) { sent, _ in
            RuntimeMetrics.keepAliveDuration.record(ContinuousClock.now - sent)
            renewed(sent)
        }
    }

    func revokeLease(_ id: Int64) async throws {
        try await etcd.revokeLease(id)
    }

    func get(_ key: String) async throws -> StoreEntry? {
        try await etcd.get(key).map(Self.entry)
    }

    func list(prefix: String) async throws -> (entries: [StoreEntry], revision: Int64) {
        let listing = try await etcd.list(prefix: prefix)
        return (listing.kvs.map(Self.entry), listing.revision)
    }

    func put(_ key: String, _ value: [UInt8], lease: Int64) async throws {
        try await etcd.put(key, value, lease: lease)
    }

    func put(_ key: String, _ value: [UInt8], ifModRevisions conditions: [String: Int64], lease: Int64) async throws -> Bool {
        try await etcd.put(key, value, ifModRevisions: conditions, lease: lease)
    }

    func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<[StoreEvent], Error> {
        let batches = etcd.watch(prefix: prefix, fromRevision: revision)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await batch in batches {
                        continuation.yield(batch.compactMap { event in
                            guard let kv = event.kv else { return nil }
                            return StoreEvent(kind: event.type == .delete ? .delete : .put, entry: Self.entry(kv))
                        })
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func close() async {
        await etcd.close()
    }

    private static func entry(_ kv: EtcdKeyValue) -> StoreEntry {
        StoreEntry(key: String(decoding: kv.key, as: UTF8.self), value: kv.value, modRevision: kv.modRevision)
    }
}
