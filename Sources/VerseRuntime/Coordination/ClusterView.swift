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
        /// Waits under way, by the id each took (removed when the wait returns).
        var waits: [Int: Wait] = [:]
        var lastWaitID = 0
    }

    /// Where one `waitForChange` is.
    private enum Wait {
        /// Started, not yet suspended.
        case starting
        /// Suspended until a change or its timeout.
        case waiting(CheckedContinuation<Void, Never>)
        /// Its timeout came before it suspended: it must not suspend.
        case timedOut
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
            var waiters: [CheckedContinuation<Void, Never>] = []
            for (id, wait) in state.waits {
                if case .waiting(let continuation) = wait {
                    waiters.append(continuation)
                    state.waits[id] = nil
                }
            }
            let changed = map != nil || liveNodes != nil || liveGates != nil
            return (waiters, changed ? ClusterEvents.changes(from: old, to: (state.map, state.liveNodes, state.liveGates)) : [])
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
            state.lastWaitID += 1
            state.waits[state.lastWaitID] = .starting
            return state.lastWaitID
        }
        let wake = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self.endWait(id) }
        }
        defer {
            wake.cancel()
            state.withLockedValue { $0.waits[id] = nil }
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLockedValue { state -> Bool in
                guard state.version == version, case .starting = state.waits[id] else { return true }
                state.waits[id] = .waiting(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// The wait `id` timed out: resumed if it is waiting, told not to if it is starting,
    /// nothing if it has returned already.
    private func endWait(_ id: Int) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            switch state.waits[id] {
            case .waiting(let continuation):
                state.waits[id] = nil
                return continuation
            case .starting:
                state.waits[id] = .timedOut
                return nil
            case .timedOut, nil:
                return nil
            }
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
