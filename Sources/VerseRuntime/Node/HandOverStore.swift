import VerseProtobuf

/// State handed to this node by a shard's previous owner, for objects not activated
/// here yet: taken by the object's first activation, passed on if the shard leaves
/// before that, dropped once stale. A value kept under the node's lock.
struct HandOverStore {
    struct Entry {
        let state: ProtoAny
        /// The node that sent it: it owns the shard until it marks it free.
        let sender: String
        let received: ContinuousClock.Instant

        /// Still worth keeping under `map`: the shard is free, ours, or still the
        /// sender's. Once a third node has claimed it, this state is stale.
        func isCurrent(_ key: ObjectKey, in map: ShardMap, here address: String) -> Bool {
            guard let owner = map.owner(of: key.shard(among: map.shardCount)) else { return true }
            return owner == address || owner == sender
        }
    }

    /// Handed-over state for a shard this node has not claimed is dropped after this
    /// long (the shard went elsewhere after all). While the node serves the shard the
    /// state waits for the object's next call, however late.
    static let lifetime: Duration = .seconds(120)

    private var entries: [ObjectKey: Entry] = [:]

    mutating func receive(_ key: ObjectKey, state: ProtoAny, from sender: String, at now: ContinuousClock.Instant) {
        entries[key] = Entry(state: state, sender: sender, received: now)
    }

    /// The state for an object being activated, if any (it is used once).
    mutating func take(_ key: ObjectKey) -> ProtoAny? {
        entries.removeValue(forKey: key)?.state
    }

    /// Drops state a third node's claim made stale under `map`.
    mutating func keepCurrent(in map: ShardMap, here address: String) {
        entries = entries.filter { $1.isCurrent($0, in: map, here: address) }
    }

    /// Removes and returns the state of objects in `shards` (leaving this node).
    mutating func removeAll(in shards: Set<Int>, shardCount: Int) -> [ObjectKey: ProtoAny] {
        let leaving = entries.filter { shards.contains($0.key.shard(among: shardCount)) }
        for key in leaving.keys { entries[key] = nil }
        return leaving.mapValues(\.state)
    }

    /// Drops state older than `lifetime` for shards this node does not serve.
    mutating func expire(now: ContinuousClock.Instant, serving: (ObjectKey) -> Bool) {
        entries = entries.filter { key, entry in serving(key) || now - entry.received < Self.lifetime }
    }
}
