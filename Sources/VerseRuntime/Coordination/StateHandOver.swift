import Logging
import VerseProtobuf

/// Moves released objects' state to their shards' next owners (`NodeService/HandOver`),
/// so an object that changes node keeps its state (`VirtualObject.handOff`/`restore`).
struct StateHandOver: Sendable {
    let links: NodeLinks
    /// This node: state for shards still targeted here is not sent.
    let address: String
    let logger: Logger

    /// Sends objects' state to the nodes their shards are moving to, before the shards
    /// are marked free (so it is there when the target claims them and activates the
    /// objects). A node that cannot be reached gets nothing: its objects start empty.
    func send(_ objects: [Verse_HandedOverObject], map: ShardMap) async {
        guard !objects.isEmpty else { return }
        let byTarget = Dictionary(grouping: objects) { map.targetNode(of: ShardID.of($0.id, count: map.shardCount)) ?? "" }
        for (target, objects) in byTarget where !target.isEmpty && target != address {
            for batch in Self.batches(objects) {
                do {
                    try await links.link(to: target).handOver(batch, from: address)
                } catch {
                    logger.warning("could not hand \(batch.count) objects' state to \(target): \(error)")
                }
            }
        }
    }

    /// Hand-over calls stay under this many bytes of state: a node takes messages of up
    /// to 4 MiB, and one chat room's history alone can approach that.
    static let handOverBatchBytes = 3 << 20

    /// `objects` in order, split so each batch's state stays under `handOverBatchBytes`
    /// (an object larger than that goes alone, and its receiver may refuse it).
    static func batches(_ objects: [Verse_HandedOverObject]) -> [[Verse_HandedOverObject]] {
        var batches: [[Verse_HandedOverObject]] = []
        var current: [Verse_HandedOverObject] = []
        var bytes = 0
        for object in objects {
            let size = (object.state?.value.count ?? 0) + object.type.utf8.count + object.id.utf8.count
            if !current.isEmpty && bytes + size > handOverBatchBytes {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(object)
            bytes += size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}
