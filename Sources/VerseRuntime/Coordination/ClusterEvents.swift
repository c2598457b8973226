import NIOConcurrencyHelpers

/// What changed in the cluster as this process saw it (members joining and leaving,
/// shards changing owner), the last `capacity` of them: for the cluster page.
public final class ClusterEvents: Sendable {
    public struct Event: Sendable, Equatable {
        /// Unix milliseconds.
        public var time: Int64
        public var text: String
    }

    private let capacity: Int
    private let events = NIOLockedValueBox<[Event]>([])

    public init(capacity: Int = 100) {
        self.capacity = capacity
    }

    public var recent: [Event] { events.withLockedValue { $0 } }

    func record(_ texts: [String], at time: Int64 = WallClock.unixMicros() / 1000) {
        guard !texts.isEmpty else { return }
        events.withLockedValue { events in
            events += texts.map { Event(time: time, text: $0) }
            if events.count > capacity { events.removeFirst(events.count - capacity) }
        }
    }

    /// The changes from one view of the cluster to the next, in words (a pure function).
    static func changes(from old: (map: ShardMap, nodes: Set<String>, gates: Set<String>),
                        to new: (map: ShardMap, nodes: Set<String>, gates: Set<String>)) -> [String] {
        var texts: [String] = []
        texts += new.nodes.subtracting(old.nodes).sorted().map { "node \($0) joined" }
        texts += old.nodes.subtracting(new.nodes).sorted().map { "node \($0) left" }
        texts += new.gates.subtracting(old.gates).sorted().map { "gate \($0) joined" }
        texts += old.gates.subtracting(new.gates).sorted().map { "gate \($0) left" }
        guard old.map.shardCount == new.map.shardCount, old.map.epoch != new.map.epoch || old.map.current != new.map.current else {
            return texts
        }
        // Moves grouped by (from, to): one line each, not one per shard.
        var moves: [String: Int] = [:]
        for shard in 0..<new.map.shardCount {
            let before = old.map.owner(of: shard), after = new.map.owner(of: shard)
            guard before != after else { continue }
            moves["\(before ?? "nobody") -> \(after ?? "nobody")", default: 0] += 1
        }
        texts += moves.sorted { $0.key < $1.key }.map { "\($0.value) shards: \($0.key)" }
        return texts
    }
}
