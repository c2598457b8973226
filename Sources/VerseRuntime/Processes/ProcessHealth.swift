import NIOConcurrencyHelpers

/// Whether this process should get traffic, in the one meaning every probe uses
/// (`GET /ready`, `grpc.health.v1.Health`):
/// - a node (and the embedded process) is ready while every shard has a live owner and
///   etcd confirms its own membership within its lease (so it may take objects);
/// - a gate is ready while it has a shard map with at least one live node;
/// - nobody is ready once it has begun to shut down (before its GOAWAYs go out).
public final class ProcessHealth: Sendable {
    public enum Readiness: Equatable, Sendable {
        case ready
        case notReady(String)
    }

    private let role: ClusterProcess.Role
    private let view: ClusterView
    private let node: Node?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var draining = false
        var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWatcher = 0
    }

    init(role: ClusterProcess.Role, view: ClusterView, node: Node?) {
        self.role = role
        self.view = view
        self.node = node
    }

    public var readiness: Readiness {
        if state.withLockedValue({ $0.draining }) { return .notReady("shutting down") }
        switch role {
        case .gate:
            guard view.map.epoch > 0 else { return .notReady("no shard map yet") }
            guard !view.liveNodes.isEmpty else { return .notReady("no live node") }
        case .node, .embedded:
            guard view.isReady else { return .notReady("not every shard has a live owner yet") }
            guard node?.membershipConfirmed ?? false else { return .notReady("membership not confirmed by the coordination store") }
        }
        return .ready
    }

    /// Shutting down: not ready from now on; watchers hear it at once.
    func startDraining() {
        let watchers = state.withLockedValue { state -> [AsyncStream<Void>.Continuation] in
            state.draining = true
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield() }
    }

    /// Ticks when readiness may have changed (at least every `interval`, and at once
    /// when draining starts), until the task is cancelled.
    func changes(every interval: Duration = .seconds(1)) -> AsyncStream<Void> {
        AsyncStream { continuation in
            let id = state.withLockedValue { state -> Int in
                state.nextWatcher += 1
                state.watchers[state.nextWatcher] = continuation
                return state.nextWatcher
            }
            let ticker = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    continuation.yield()
                }
            }
            continuation.onTermination = { [weak self] _ in
                ticker.cancel()
                _ = self?.state.withLockedValue { $0.watchers.removeValue(forKey: id) }
            }
        }
    }
}
