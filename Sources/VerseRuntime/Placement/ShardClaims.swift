/// A node's side of placement: which shards it gives up and which it takes, given the
/// map and who is alive. The leader decides targets (`ShardAssigner`); each node then
/// moves its own shards with these rules, which are what keep a shard from ever having
/// two owners:
/// - a node releases a shard only after it has stopped serving it (drained its calls);
/// - a node claims a shard only when it is targeted at it and free, or its recorded
///   owner's lease is gone.
/// Pure: unit-tested and model-tested without a store.
public enum ShardClaims {
    /// Shards `node` serves that the leader has targeted at another node.
    public static func toRelease(by node: String, in map: ShardMap) -> Set<Int> {
        Set(map.shards(servedBy: node).filter { map.targetNode(of: $0) != node })
    }

    /// Marks `shards` free where `node` still owns them (after it stopped serving them).
    public static func release(_ shards: Set<Int>, by node: String, in map: inout ShardMap) {
        for shard in shards where map.owner(of: shard) == node { map.current[shard] = ShardMap.none }
    }

    /// Takes the shards targeted at `node` that are free or whose owner is not in `live`.
    /// Returns the owners it took shards from: `live` may be out of date (an owner that
    /// was away may have registered again since), so the write must also check, in the
    /// same transaction, that each of them is still not registered.
    @discardableResult
    public static func claim(for node: String, live: Set<String>, in map: inout ShardMap) -> Set<String> {
        let me = map.index(of: node)
        var takenFrom = Set<String>()
        for shard in 0..<map.shardCount where map.target[shard] == me && map.current[shard] != me {
            let owner = map.owner(of: shard)
            guard owner.map({ !live.contains($0) }) ?? true else { continue }
            map.current[shard] = me
            if let owner { takenFrom.insert(owner) }
        }
        return takenFrom
    }
}
