import VerseGRPC

/// A node refused a call because it does not (or no longer) serve the shard: the shard
/// is moving, or the caller's map is stale. Routers wait for the map and retry.
public struct ShardNotServed: Error, CustomStringConvertible, Sendable {
    public let shard: Int
    public let node: String
    public var description: String { "shard \(shard) is not served by \(node)" }

    /// Trailing metadata key that marks this refusal on the wire (NodeService).
    static let metadataKey = "verse-shard-not-served"

    var status: GRPCStatus { GRPCStatus(.aborted, description) }
}

/// The node that owns a shard could not be reached (connection refused or lost).
public struct NodeUnreachable: Error, CustomStringConvertible, Sendable {
    public let node: String
    public let reason: String
    public var description: String { "node \(node) is unreachable: \(reason)" }
}
