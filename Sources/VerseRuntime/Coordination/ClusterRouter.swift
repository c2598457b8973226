import Logging
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// Routes object calls to the node that serves the object's shard: in-process when
/// that node is local, over NodeService otherwise. A call that meets a shard in
/// transit (not served, or its node unreachable) waits for the map to change and
/// retries within its deadline, so callers do not see moves.
final class ClusterRouter: Sendable {
    let view: ClusterView
    let localNode: Node?
    let links: NodeLinks
    private let logger: Logger

    init(view: ClusterView, localNode: Node?, links: NodeLinks, logger: Logger) {
        self.view = view
        self.localNode = localNode
        self.links = links
        self.logger = logger
    }

    func call(type: String, id: String, method: String, request: ProtoAny, context: CallContext,
              timeout: Duration) async throws -> ProtoAny {
        try await route(id: id, timeout: timeout) { host, remaining in
            try await host.call(type: type, id: id, method: method, request: request, context: context, timeout: remaining)
        }
    }

    func create(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        try await route(id: id, timeout: timeout) { host, remaining in
            try await host.create(type: type, id: id, context: context, timeout: remaining)
        }
    }

    func delete(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        try await route(id: id, timeout: timeout) { host, remaining in
            try await host.delete(type: type, id: id, context: context, timeout: remaining)
        }
    }

    /// The node that runs calls for `owner`: this process's, or a link to another.
    private func host(_ owner: String) throws -> any ObjectHost {
        if let node = localNode, node.address == owner { return node }
        return try links.link(to: owner)
    }

    /// Finds the owner of `id`'s shard and runs `attempt` on its host, retrying while
    /// the shard is in transit, until `timeout`.
    private func route<T: Sendable>(id: String, timeout: Duration,
                                    _ attempt: @Sendable (any ObjectHost, Duration) async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        let shard = ShardID.of(id, count: view.shardCount)
        var lastProblem = "no node serves shard \(shard)"
        while true {
            let version = view.version
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw VerseError(.unavailable, "\(lastProblem) (gave up after \(timeout))")
            }
            if let owner = view.owner(of: shard) {
                do {
                    return try await attempt(try host(owner), remaining)
                } catch let moved as ShardNotServed {
                    lastProblem = moved.description
                } catch let unreachable as NodeUnreachable {
                    lastProblem = unreachable.description
                }
            }
            // Wait for the map to move on (or a short while, then look again).
            await view.waitForChange(after: version, timeout: min(.milliseconds(100), max(remaining, .milliseconds(1))))
        }
    }
}
