import NIOConcurrencyHelpers

/// This process's picture of the cluster: the shard map and the live members, as the
/// coordinator last saw them. Routers read it on every call and can wait for it to
/// change; it survives coordinator outages (the last map keeps serving).
public final class ClusterView: Sendable {
    private struct State {
        var map: ShardMap
        var liveNodes: Set<String> = []
        var liveGates: Set<String> = []
        var version = 0
        var mapChanged = ContinuousClock.now
        /// Tasks waiting for a change, by the id each wait took.
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var lastWaiterID = 0
        /// Waits under way, and those whose timeout came before they had registered.
        var active: Set<Int> = []
        var timedOut: Set<Int> = []
    }

    private let state: NIOLockedValueBox<State>
    /// Fixed for the life of the cluster.
    public let shardCount: Int
    /// Recent changes (members, owners), for the cluster page.
    public let events = ClusterEvents()

    public init(shardCount: Int) {
        self.shardCount = shardCount
        state = NIOLockedValueBox(State(map: ShardMap(shardCount: shardCount)))
    }

    /// The node serving `shard`, read without copying the map (per-call path).
    public func owner(of shard: Int) -> String? {
        state.withLockedValue { $0.map.owner(of: shard) }
    }

    public var map: ShardMap { state.withLockedValue { $0.map } }
    public var liveNodes: Set<String> { state.withLockedValue { $0.liveNodes } }
    public var liveGates: Set<String> { state.withLockedValue { $0.liveGates } }
    public var version: Int { state.withLockedValue { $0.version } }
    /// When the shard map last changed (as this process heard it).
    public var mapChanged: ContinuousClock.Instant { state.withLockedValue { $0.mapChanged } }

    /// Every shard has a live, serving owner.
    public var isReady: Bool { state.withLockedValue { $0.map.isReady(live: $0.liveNodes) } }

    /// Ready, with no shard moving or due to move (see ShardMap.isSettled).
    public var isSettled: Bool { state.withLockedValue { $0.map.isSettled(live: $0.liveNodes) } }

    func update(map: ShardMap? = nil, liveNodes: Set<String>? = nil, liveGates: Set<String>? = nil) {
        let (waiters, changes) = state.withLockedValue { state -> ([CheckedContinuation<Void, Never>], [String]) in
            let old = (state.map, state.liveNodes, state.liveGates)
            if let map, map != state.map {
                state.map = map
                state.mapChanged = .now
            }
            if let liveNodes { state.liveNodes = liveNodes }
            if let liveGates { state.liveGates = liveGates }
            state.version += 1
            defer { state.waiters.removeAll() }
            let changed = map != nil || liveNodes != nil || liveGates != nil
            return (Array(state.waiters.values), changed ? ClusterEvents.changes(from: old, to: (state.map, state.liveNodes, state.liveGates)) : [])
        }
        events.record(changes)
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the view changes after `version`, or after `timeout`. A timeout ends
    /// this wait alone: were it a change for everyone, every waiter's timeout would wake
    /// every other waiter, and a few hundred calls waiting for a route would wake each
    /// other thousands of times a second.
    public func waitForChange(after version: Int, timeout: Duration) async {
        let id = state.withLockedValue { state -> Int in
            state.lastWaiterID += 1
            state.active.insert(state.lastWaiterID)
            return state.lastWaiterID
        }
        let wake = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self.endWait(id) }
        }
        defer {
            wake.cancel()
            state.withLockedValue { state in
                state.active.remove(id)
                state.timedOut.remove(id)
            }
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLockedValue { state -> Bool in
                if state.version != version || state.timedOut.remove(id) != nil { return true }
                state.waiters[id] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// The wait `id` timed out: resumed if it is waiting, remembered if it is not yet.
    private func endWait(_ id: Int) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if state.active.contains(id) { state.timedOut.insert(id) }
            return nil
        }
        waiter?.resume()
    }

    /// Returns once every shard has a live owner, or throws after `timeout`.
    public func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !isReady {
            guard ContinuousClock.now < deadline else { throw ClusterNotReady() }
            await waitForChange(after: version, timeout: .milliseconds(200))
        }
    }
}

public struct ClusterNotReady: Error, CustomStringConvertible {
    public var description: String { "the cluster is not ready: some shards have no live owner" }
}
