import VerseProtobuf

/// Who owns each shard, as every process sees it from the coordination store.
///
/// `target` is where the leader wants a shard; `current` is the node that claimed it
/// and serves it. A node serves a shard only while `current` names it, and gives it
/// up (current = none) before the target node may claim it, so no shard ever has two
/// owners.
public struct ShardMap: Sendable, Equatable {
    public var nodes: [String]
    public var target: [Int32]
    public var current: [Int32]
    /// Bumped on every write.
    public var epoch: Int64
    /// The coordination store's revision of this map (for compare-and-swap).
    public var revision: Int64 = 0

    public static let none: Int32 = -1

    public init(shardCount: Int) {
        nodes = []
        target = Array(repeating: Self.none, count: shardCount)
        current = Array(repeating: Self.none, count: shardCount)
        epoch = 0
    }

    public var shardCount: Int { target.count }

    init(record: Verse_ShardMapRecord, revision: Int64, shardCount: Int) {
        self.nodes = record.nodes
        self.target = record.target.count == shardCount ? record.target : Array(repeating: Self.none, count: shardCount)
        self.current = record.current.count == shardCount ? record.current : Array(repeating: Self.none, count: shardCount)
        self.epoch = record.epoch
        self.revision = revision
    }

    var record: Verse_ShardMapRecord {
        var record = Verse_ShardMapRecord()
        record.nodes = nodes
        record.target = target
        record.current = current
        record.epoch = epoch
        return record
    }

    /// The node serving `shard`, if any.
    public func owner(of shard: Int) -> String? {
        let index = current[shard]
        return index >= 0 && Int(index) < nodes.count ? nodes[Int(index)] : nil
    }

    public func targetNode(of shard: Int) -> String? {
        let index = target[shard]
        return index >= 0 && Int(index) < nodes.count ? nodes[Int(index)] : nil
    }

    /// Index of `address` in the node table, adding it if needed.
    mutating func index(of address: String) -> Int32 {
        if let found = nodes.firstIndex(of: address) { return Int32(found) }
        nodes.append(address)
        return Int32(nodes.count - 1)
    }

    /// Every shard has a serving owner among `live` nodes.
    public func isReady(live: Set<String>) -> Bool {
        (0..<shardCount).allSatisfy { shard in owner(of: shard).map(live.contains) ?? false }
    }

    /// Ready, and nothing is moving or due to move: every shard is served by its target,
    /// and the live nodes' loads differ by at most one shard (where ShardAssigner stops).
    public func isSettled(live: Set<String>) -> Bool {
        guard isReady(live: live), target == current else { return false }
        var load = Dictionary(uniqueKeysWithValues: nodes.filter(live.contains).map { ($0, 0) })
        for shard in 0..<shardCount { if let owner = owner(of: shard) { load[owner, default: 0] += 1 } }
        guard let most = load.values.max(), let least = load.values.min() else { return false }
        return most - least <= 1 && load.count == live.count
    }

    /// Shards `address` currently serves.
    public func shards(servedBy address: String) -> [Int] {
        guard let index = nodes.firstIndex(of: address) else { return [] }
        return (0..<shardCount).filter { current[$0] == Int32(index) }
    }
}
