/// The leader's placement decision: which node each shard should move to.
///
/// - Shards whose target is not a live node get one at once (failover is not batched).
/// - Then the load is evened out, moving at most `maxMovesInFlight` shards at a time
///   (counting moves already under way), so a joining node takes its share in
///   bounded batches instead of every shard migrating at once.
/// Pure: unit-tested without any coordination store.
public enum ShardAssigner {
    public static func assign(_ map: ShardMap, liveNodes: [String], maxMovesInFlight: Int) -> ShardMap {
        var next = map
        let live = liveNodes.sorted()
        guard !live.isEmpty else { return next }
        let liveIndexes = live.map { next.index(of: $0) }
        var load = Dictionary(uniqueKeysWithValues: liveIndexes.map { ($0, 0) })
        for shard in 0..<next.shardCount where load[next.target[shard]] != nil {
            load[next.target[shard], default: 0] += 1
        }
        func lightest() -> Int32 { liveIndexes.min { (load[$0]!, $0) < (load[$1]!, $1) }! }
        func heaviest() -> Int32 { liveIndexes.max { (load[$0]!, $1) < (load[$1]!, $0) }! }

        // 1. Orphans: target missing or dead.
        for shard in 0..<next.shardCount where load[next.target[shard]] == nil {
            // Prefer the node already serving it, if that one is alive.
            let keep = load[next.current[shard]] != nil ? next.current[shard] : lightest()
            next.target[shard] = keep
            load[keep, default: 0] += 1
        }

        // 2. Balance, in bounded batches.
        var inFlight = (0..<next.shardCount).filter { next.target[$0] != next.current[$0] && load[next.current[$0]] != nil }.count
        while inFlight < maxMovesInFlight {
            let from = heaviest(), to = lightest()
            guard load[from]! - load[to]! > 1 else { break }
            // Move a settled shard (target == current) from the heaviest node.
            guard let shard = (0..<next.shardCount).last(where: { next.target[$0] == from && next.current[$0] == from })
                ?? (0..<next.shardCount).last(where: { next.target[$0] == from }) else { break }
            next.target[shard] = to
            load[from]! -= 1
            load[to]! += 1
            inFlight += 1
        }
        if next.target != map.target { next.epoch += 1 }
        return next
    }
}
