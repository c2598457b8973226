import Logging
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// Membership, leader election and shard placement through a `ClusterStore` (etcd in a
/// cluster, memory in one process: both run this same code). Keys: `ClusterKeys`.
///
/// Every process watches the prefix and routes from its local copy (`ClusterView`),
/// which keeps serving while the store is away. Nodes also reconcile: the leader sets
/// shard targets (`ShardAssigner`); each node claims shards targeted at it once their
/// previous owner has released them (or died), and releases shards targeted elsewhere
/// after draining their calls (`ShardClaims`).
final class ShardCoordinator: Sendable {
    struct Settings: Sendable {
        var prefix: String
        var leaseTTL: Int64 = 2
        var maxMovesInFlight = 1024
    }

    let store: any ClusterStore
    let settings: Settings
    /// What this process registers as (an embedded process is both).
    let kinds: [ClusterKeys.MemberKind]
    let address: String
    let view: ClusterView
    /// The node this process hosts: only nodes reconcile.
    let node: Node?
    /// Sends released objects' state to the shards' next owners.
    private let handOver: StateHandOver
    private let keys: ClusterKeys
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let triggers: AsyncStream<Void>
    private let trigger: AsyncStream<Void>.Continuation

    private struct State {
        var lease: Int64 = 0
        var isLeader = false
        var wasReady = false
        var stopping = false
        var tasks: [Task<Void, Never>] = []
    }

    init(store: any ClusterStore, settings: Settings, kinds: [ClusterKeys.MemberKind], address: String, view: ClusterView,
         node: Node?, links: NodeLinks, logger: Logger) {
        self.store = store
        self.handOver = StateHandOver(links: links, address: address, logger: logger)
        self.settings = settings
        self.kinds = kinds
        self.address = address
        self.view = view
        self.node = node
        self.logger = logger
        self.keys = ClusterKeys(prefix: settings.prefix)
        (triggers, trigger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var isLeader: Bool { state.withLockedValue { $0.isLeader } }

    /// Starts membership and watching in the background; returns at once.
    func start() {
        let session = Task { await self.sessionLoop() }
        let reconciler = Task { await self.reconcileLoop() }
        state.withLockedValue { $0.tasks = [session, reconciler] }
    }

    /// Leaves the cluster: a node first hands back its shards (stops serving them and
    /// marks them free), then its lease goes, so the leader reassigns at once.
    func stop() async {
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.stopping = true
            return state.tasks
        }
        for task in tasks { task.cancel() }
        trigger.finish()
        if let node {
            let mine = Set(view.map.shards(servedBy: address))
            let handedOff = await node.release(shards: mine)
            _ = try? await updateMap { map in ShardClaims.release(mine, by: self.address, in: &map) }
            // No node is targeted at these shards until this one's lease is gone; the
            // leader will then place them as ShardAssigner does, which is deterministic:
            // hand the state to those nodes now (a wrong guess only leaves state unused).
            let others = view.liveNodes.subtracting([address])
            if !handedOff.isEmpty && !others.isEmpty {
                let next = ShardAssigner.assign(view.map, liveNodes: Array(others), maxMovesInFlight: settings.maxMovesInFlight)
                await handOver.send(handedOff, map: next)
            }
        }
        let lease = state.withLockedValue { $0.lease }
        if lease != 0 { try? await store.revokeLease(lease) }
        logger.info("left the cluster")
    }

    // MARK: session: lease, registration, watch

    private func sessionLoop() async {
        var backoff = RetryBackoff(first: .milliseconds(200), limit: .seconds(2))
        while !Task.isCancelled {
            do {
                try await session()
            } catch is CancellationError {
                RuntimeMetrics.sessionUp.record(0)
                return
            } catch is LeaseExpired {
                RuntimeMetrics.sessionUp.record(0)
                RuntimeMetrics.sessionsLost["lease_expired"].increment()
                // Others may have claimed this node's shards while it was away (paused
                // past its lease): stop serving every one of them until the next
                // session's listing says which are still ours.
                logger.warning("lease expired: not serving until registered again")
                node?.suspendServing()
            } catch {
                RuntimeMetrics.sessionUp.record(0)
                if Task.isCancelled { return }
                RuntimeMetrics.sessionsLost["store_error"].increment()
                logger.warning("coordination store session lost, serving with the last known map: \(error)")
            }
            try? await backoff.wait()
        }
    }

    /// One registration: lease, member keys, initial listing, then the watch until it
    /// breaks. Throws when the store goes away or the lease expires; the caller starts over.
    private func session() async throws {
        let requested = ContinuousClock.now
        let lease = try await store.grantLease(ttl: settings.leaseTTL)
        state.withLockedValue { $0.lease = lease.id }
        node?.confirmMembership(until: requested + .seconds(lease.ttl))
        for kind in kinds {
            var record = Verse_MemberRecord()
            record.address = address
            record.kind = kind.rawValue
            record.startedUnixMicros = WallClock.unixMicros()
            try await store.put(keys.member(kind, address), record.serializedBytes(), lease: lease.id)
        }
        logger.info("registered", metadata: ["as": "\(kinds.map(\.rawValue))", "address": "\(address)", "lease-ttl": "\(lease.ttl)s"])

        let keeper = Task { [store, node] in
            // Refresh at a third of the TTL; each refresh confirms the node's membership
            // for a TTL from when it was asked (what etcd guarantees at the least).
            try await store.keepAlive(lease, every: .milliseconds(Int64(lease.ttl) * 1000 / 3)) { sent in
                node?.confirmMembership(until: sent + .seconds(lease.ttl))
            }
        }
        defer { keeper.cancel() }

        // Listed after registering: every claim made while this node was not registered
        // is in it, and none can follow while it is (nobody claims a live node's shards).
        let listing = try await store.list(prefix: keys.prefix)
        apply(listing.entries)
        node?.resumeServing()
        RuntimeMetrics.sessionUp.record(1)
        trigger.yield()
        let events = store.watch(prefix: keys.prefix, fromRevision: listing.revision + 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await batch in events { self.apply(events: batch) }
                throw StoreStreamEnded(what: "watch")
            }
            group.addTask {
                try await keeper.value
                throw LeaseExpired()
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Rebuilds membership and the map from a full listing.
    private func apply(_ entries: [StoreEntry]) {
        var nodes = Set<String>(), gates = Set<String>()
        var map: ShardMap?
        for entry in entries {
            if let member = keys.member(from: entry.key) {
                if member.kind == .node { nodes.insert(member.address) } else { gates.insert(member.address) }
            } else if entry.key == keys.shardMap {
                map = decodeMap(entry) ?? map
            }
        }
        publish(map: map, nodes: nodes, gates: gates)
    }

    private func apply(events: [StoreEvent]) {
        var nodes = view.liveNodes, gates = view.liveGates
        var map: ShardMap?
        for event in events {
            let entry = event.entry
            if let member = keys.member(from: entry.key) {
                let isNode = member.kind == .node
                if event.kind == .delete {
                    if isNode { nodes.remove(member.address) } else { gates.remove(member.address) }
                } else {
                    if isNode { nodes.insert(member.address) } else { gates.insert(member.address) }
                }
            } else if entry.key == keys.shardMap, event.kind == .put {
                map = decodeMap(entry) ?? map
            }
        }
        publish(map: map, nodes: nodes, gates: gates)
        trigger.yield()
    }

    private func decodeMap(_ entry: StoreEntry) -> ShardMap? {
        guard let record = try? Verse_ShardMapRecord(serializedBytes: entry.value) else { return nil }
        return ShardMap(record: record, revision: entry.modRevision, shardCount: view.shardCount)
    }

    private func publish(map: ShardMap?, nodes: Set<String>, gates: Set<String>) {
        if let map, map.revision < view.map.revision { // never go back to an older map
            view.update(liveNodes: nodes, liveGates: gates)
        } else {
            view.update(map: map, liveNodes: nodes, liveGates: gates)
        }
        // Adopt the map now, in order (only deactivation, which may wait on running
        // calls, goes to a task): a task per map could apply them out of order.
        if let node, let map, let lost = node.adopt(map), !lost.isEmpty {
            Task { await node.deactivate(lostShards: lost) }
        }
        let ready = view.isReady
        let changed = state.withLockedValue { state -> Bool in
            defer { state.wasReady = ready }
            return state.wasReady != ready
        }
        if changed {
            if ready {
                logger.notice("cluster ready: all \(view.shardCount) shards have a live owner",
                              metadata: ["nodes": "\(view.liveNodes.sorted())"])
            } else {
                // Also normal for a moment while shards change hands.
                logger.info("cluster not ready: some shards have no live owner")
            }
        }
    }

    // MARK: reconciliation (nodes only)

    private func reconcileLoop() async {
        guard node != nil else { return }
        for await _ in triggers {
            if state.withLockedValue({ $0.stopping }) { return }
            do {
                try await reconcile()
            } catch {
                logger.debug("reconcile deferred: \(error)")
                // Look again shortly: a lost CAS race or a brief etcd error.
                Task {
                    try? await Task.sleep(for: .milliseconds(100))
                    self.trigger.yield()
                }
            }
        }
    }

    private func reconcile() async throws {
        try await campaign()
        let live = view.liveNodes
        guard live.contains(address) else { return } // our own registration is not visible yet
        if isLeader {
            let maxMoves = settings.maxMovesInFlight
            let wrote = try await updateMap { map in
                map = ShardAssigner.assign(map, liveNodes: Array(live), maxMovesInFlight: maxMoves)
            }
            if wrote != nil { logger.info("leader: updated shard targets", metadata: ["live-nodes": "\(live.count)"]) }
        }
        guard let node else { return }

        // Release what is targeted elsewhere: drain, drop objects (handing their state
        // to the target node), then mark it free.
        let map = view.map
        let release = ShardClaims.toRelease(by: address, in: map)
        if !release.isEmpty {
            let handedOff = await node.release(shards: release)
            await handOver.send(handedOff, map: map)
            try await updateMap { map in ShardClaims.release(release, by: self.address, in: &map) }
            logger.info("released \(release.count) shards")
        }

        // Claim what is targeted here and free (released, or its owner is gone).
        let claimed = try await updateMap(requiringAbsent: { map in
            ShardClaims.claim(for: self.address, live: live, in: &map).map { self.keys.member(.node, $0) }
        })
        if let claimed {
            let serving = claimed.shards(servedBy: address)
            RuntimeMetrics.shardsClaimed.increment(by: Set(serving).subtracting(map.shards(servedBy: address)).count)
            logger.info("claimed shards; now serving \(serving.count)")
        }
    }

    /// Becomes leader if nobody is (the leader key lives on the leader's lease).
    private func campaign() async throws {
        let lease = state.withLockedValue { $0.lease }
        guard lease != 0 else { return }
        if try await store.put(keys.leader, Array(address.utf8), ifModRevision: 0, lease: lease) {
            logger.notice("elected leader")
        }
        let leader = try await store.get(keys.leader).map { String(decoding: $0.value, as: UTF8.self) }
        state.withLockedValue { $0.isLeader = leader == address }
    }

    /// Read-modify-write of the shard map with compare-and-swap; retries on conflict.
    /// Returns the map it wrote (nil when `change` left the map as it was).
    @discardableResult
    private func updateMap(_ change: @Sendable (inout ShardMap) -> Void) async throws -> ShardMap? {
        try await updateMap(requiringAbsent: { map in
            change(&map)
            return []
        })
    }

    /// `updateMap` whose change also names keys that must not exist when the write
    /// lands (the member keys of owners it took shards from), checked in the same write.
    @discardableResult
    private func updateMap(requiringAbsent change: @Sendable (inout ShardMap) -> [String]) async throws -> ShardMap? {
        for _ in 0..<20 {
            let stored = try await store.get(keys.shardMap)
            var map = try stored.map {
                ShardMap(record: try Verse_ShardMapRecord(serializedBytes: $0.value), revision: $0.modRevision,
                         shardCount: view.shardCount)
            } ?? ShardMap(shardCount: view.shardCount)
            let before = map
            var conditions = [keys.shardMap: stored?.modRevision ?? 0]
            for key in change(&map) { conditions[key] = 0 }
            guard map.target != before.target || map.current != before.current else { return nil }
            map.epoch += 1
            if try await store.put(keys.shardMap, map.record.serializedBytes(), ifModRevisions: conditions, lease: 0) {
                return map
            }
        }
        throw CoordinationConflict()
    }
}

/// The store said this process's lease is gone (it was away longer than the TTL).
struct LeaseExpired: Error, CustomStringConvertible {
    var description: String { "the member lease expired" }
}

struct StoreStreamEnded: Error, CustomStringConvertible {
    var what: String
    var description: String { "the cluster store ended the \(what) stream" }
}

struct CoordinationConflict: Error, CustomStringConvertible {
    var description: String { "the shard map kept changing under 20 compare-and-swap attempts" }
}
