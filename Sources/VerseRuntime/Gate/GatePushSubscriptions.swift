import Logging
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// A standalone gate's feed of pushes: one `RegisterGate` stream to every live node
/// (the nodes' objects push to clients through it), opened as nodes join, closed as
/// they leave, and reopened with backoff when one breaks.
final class GatePushSubscriptions: Sendable {
    private let gate: Gate
    /// This gate's address, as nodes address their pushes.
    private let address: String
    private let view: ClusterView
    private let links: NodeLinks
    private let logger: Logger
    /// Follows the set of live nodes.
    private let watcher = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// One stream's task per node address.
    private let streams = NIOLockedValueBox<[String: Task<Void, Never>]>([:])

    init(gate: Gate, address: String, view: ClusterView, links: NodeLinks, logger: Logger) {
        self.gate = gate
        self.address = address
        self.view = view
        self.links = links
        self.logger = logger
    }

    func start() {
        let watcher = Task {
            var seen = -1
            while !Task.isCancelled {
                let version = view.version
                if version != seen {
                    seen = version
                    reconcileSubscriptions(live: view.liveNodes)
                }
                await view.waitForChange(after: version, timeout: .seconds(1))
            }
        }
        self.watcher.withLockedValue { $0 = watcher }
    }

    private func reconcileSubscriptions(live: Set<String>) {
        streams.withLockedValue { subscriptions in
            for (address, task) in subscriptions where !live.contains(address) {
                task.cancel()
                subscriptions[address] = nil
            }
            for address in live where subscriptions[address] == nil {
                subscriptions[address] = Task { await self.subscribe(to: address) }
            }
        }
    }

    /// Receives one node's pushes for this gate's clients; reconnects with backoff.
    private func subscribe(to nodeAddress: String) async {
        var backoff = RetryBackoff(first: .milliseconds(100), limit: .seconds(2))
        while !Task.isCancelled {
            do {
                let node = try links.link(to: nodeAddress)
                var request = Verse_RegisterGateRequest()
                request.gate = address
                let call: StreamingCall<Verse_RegisterGateRequest, Verse_GatePush> =
                    try await node.client.serverStreaming("/verse.NodeService/RegisterGate", request: request,
                                                          metadata: node.callMetadata)
                _ = try await call.initialMetadata()
                logger.info("subscribed to pushes from node \(nodeAddress)")
                backoff.reset()
                for try await push in call.responses { gate.deliver(push) }
            } catch {
                if Task.isCancelled { return }
                logger.debug("push stream from \(nodeAddress) broke: \(error)")
            }
            try? await backoff.wait()
        }
    }

    func stop() {
        watcher.withLockedValue { $0?.cancel() }
        for task in streams.withLockedValue({ Array($0.values) }) { task.cancel() }
    }
}
