import Logging
import NIOCore
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// A node: hosts the objects of the shards it owns, activating them on first call.
///
/// The node serves a shard only while the shard map says it is the shard's current
/// owner; calls for other shards fail with `ShardNotServed`, which routers treat as
/// "look at the map again and retry" (never shown to clients).
public final class Node: Sendable {
    /// Longest object id accepted, in UTF-8 bytes.
    public static let maxIDLength = ObjectID.maxLength

    public let address: String
    public let shardCount: Int
    let types: [String: ObjectType]
    let pushes: PushRouter
    private let routerBox = NIOLockedValueBox<ClusterRouter?>(nil)
    private let state: NIOLockedValueBox<State>
    private let logger: Logger

    private struct State {
        var map: ShardMap
        var objects: [ObjectKey: Slot] = [:]
        var shards = ShardGate()
        var clientWatches: [String: Set<ObjectKey>] = [:]
        var handedOver = HandOverStore()
    }

    private enum Slot {
        case activating(Task<ActiveObject, Error>)
        case active(ActiveObject)
    }

    final class ActiveObject: Sendable {
        let object: any VirtualObject
        let mailbox = ObjectMailbox()
        let shard: Int
        let lastUsed: NIOLockedValueBox<ContinuousClock.Instant>
        /// Its writes to the object store (durable objects with a store only).
        let journal: ObjectJournal?
        init(object: any VirtualObject, shard: Int, journal: ObjectJournal? = nil) {
            self.object = object
            self.shard = shard
            self.journal = journal
            self.lastUsed = NIOLockedValueBox(.now)
        }
    }

    /// Where durable objects keep their state; nil: every object lives in memory.
    let store: (any ObjectStore)?
    /// Whether etcd (or the in-process store) confirmed this node's membership within
    /// its lease: only then may it take objects in the object store.
    var membershipConfirmed: Bool { state.withLockedValue { $0.shards.membershipConfirmedUntil } > .now }

    /// What this node's objects wrote to `store`.
    public let storeStatistics = StoreStatistics()

    /// Objects run on these event loops (see `ObjectRuntime.executor`).
    let eventLoops: EventLoopGroup

    public init(address: String, objectTypes: [any VirtualObject.Type], shardCount: Int = ShardID.defaultCount,
                eventLoops: EventLoopGroup, store: (any ObjectStore)? = nil, logger: Logger = Logger(label: "swiftverse.node")) {
        self.address = address
        self.store = store
        self.eventLoops = eventLoops
        self.shardCount = shardCount
        var types: [String: ObjectType] = [:]
        for type in objectTypes {
            let erased = ObjectType(type)
            types[erased.name] = erased
        }
        self.types = types
        self.pushes = PushRouter(logger: logger)
        self.logger = logger
        self.state = NIOLockedValueBox(State(map: ShardMap(shardCount: shardCount)))
    }

    var router: ClusterRouter {
        guard let router = routerBox.withLockedValue({ $0 }) else { preconditionFailure("node used before it joined a cluster") }
        return router
    }

    func attach(router: ClusterRouter) {
        routerBox.withLockedValue { $0 = router }
    }

    /// Object type -> its method names.
    public var catalog: [String: Set<String>] { types.mapValues { Set($0.requestTypes.keys) } }

    public var activeObjectCount: Int { state.withLockedValue { $0.objects.count } }

    /// What the node's objects are doing, for the metrics: how many of each type are
    /// active (or activating), and the calls in their mailboxes (waiting or running).
    struct Census {
        var activeByType: [String: Int] = [:]
        var mailboxCalls = 0
        var deepestMailbox = 0
    }

    func census() -> Census {
        var census = Census()
        for name in types.keys { census.activeByType[name] = 0 }
        // Counted under the lock: a copy of the table taken out would make the next
        // activation copy all of it.
        state.withLockedValue { state in
            for (key, slot) in state.objects {
                census.activeByType[key.type, default: 0] += 1
                guard case .active(let active) = slot else { continue }
                let depth = active.mailbox.depth
                census.mailboxCalls += depth
                census.deepestMailbox = max(census.deepestMailbox, depth)
            }
        }
        return census
    }

    // MARK: calls


    /// Validates type, id and method before anything is activated.
    private func resolveType(_ type: String, id: String) throws -> ObjectType {
        try ClientInput.check(type, "object type", atMost: ClientInput.maxNameBytes)
        guard let objectType = types[type] else { throw VerseError(.notFound, "unknown object type \"\(ClientInput.brief(type))\"") }
        try ObjectID.validate(id)
        return objectType
    }

    public func call(type: String, id: String, method: String, request: ProtoAny, context: CallContext) async throws -> ProtoAny {
        let objectType = try resolveType(type, id: id)
        try ClientInput.check(method, "method", atMost: ClientInput.maxNameBytes)
        try ClientInput.check(request.typeUrl, "type URL", atMost: ClientInput.maxTypeURLBytes)
        guard let expected = objectType.requestTypes[method] else {
            throw VerseError(.unimplemented, "\(type) has no method \(ClientInput.brief(method))")
        }
        // A wrong payload type is refused before anything is activated.
        guard request.typeUrl.isEmpty || request.typeName == expected else {
            throw VerseError(.invalidArgument, "\(type).\(method) takes \(expected), got \(request.typeUrl.isEmpty ? "an empty Any" : ClientInput.brief(request.typeUrl, atMost: ClientInput.quotedURLBytes))")
        }
        let arrival = NIODeadline.now().uptimeNanoseconds
        var succeeded = false
        defer { objectType.callMetrics[method]?.record(succeeded: succeeded, since: arrival) }
        let shard = ShardID.of(id, count: shardCount)
        try enterShard(shard)
        defer { leaveShard(shard) }
        let active = try await activeObject(objectType, id: id, shard: shard)
        active.lastUsed.withLockedValue { $0 = .now }
        // Pushes the call makes time their fan-out from its arrival (PushOrigin).
        let (response, pending) = try await PushOrigin.$callArrival.withValue(arrival) {
            try await active.mailbox.run { () -> (ProtoAny, Int?) in
                let response = try await objectType.call(active.object, method: method, request: request, context: context)
                return (response, active.journal?.pendingTicket)
            }
        }
        // Write before acknowledge: the answer waits for what the call recorded (the
        // mailbox is free meanwhile, so the next calls' changes join the next write).
        if let pending, let journal = active.journal {
            do {
                try await journal.waitUntilDurable(pending)
            } catch {
                throw storeFailure(error, shard: shard)
            }
        }
        succeeded = true
        return response
    }

    /// What a caller is told when a write failed: fenced (the object was activated
    /// again elsewhere) is a shard refusal, which routers retry at the current owner;
    /// the store away is UNAVAILABLE. Nothing was acknowledged either way.
    private func storeFailure(_ error: Error, shard: Int) -> Error {
        switch error {
        case is StoreFenced: ShardNotServed(shard: shard, node: address)
        case let unavailable as StoreUnavailable: VerseError(.unavailable, unavailable.description)
        default: VerseError(.internal, "the object store failed: \(error)")
        }
    }

    /// A write of `key`'s failed: its memory is ahead of the store (or another node owns
    /// it now), so it goes; the next call activates it again from what is stored.
    private func dropAfterFailedWrite(_ key: ObjectKey, journal: ObjectJournal, _ error: Error) {
        let dropped = state.withLockedValue { state -> ActiveObject? in
            guard case .active(let active)? = state.objects[key], active.journal === journal else { return nil }
            state.objects[key] = nil
            return active
        }
        logger.warning("dropped \(key) after a failed write: \(error)")
        if dropped != nil { RuntimeMetrics.deactivations[Deactivation(type: key.type, reason: .storeFailure)].increment() }
        if let dropped { Task { _ = try? await dropped.mailbox.run { await dropped.object.onDeactivate() } } }
    }

    /// Activates the object if it is not active.
    public func create(type: String, id: String) async throws {
        let objectType = try resolveType(type, id: id)
        let shard = ShardID.of(id, count: shardCount)
        try enterShard(shard)
        defer { leaveShard(shard) }
        _ = try await activeObject(objectType, id: id, shard: shard)
    }

    /// Deactivates the object; NOT_FOUND if it was not active.
    public func delete(type: String, id: String) async throws {
        _ = try resolveType(type, id: id)
        let shard = ShardID.of(id, count: shardCount)
        try enterShard(shard)
        defer { leaveShard(shard) }
        let key = ObjectKey(type: type, id: id)
        let slot = state.withLockedValue { $0.objects.removeValue(forKey: key) }
        guard case .active(let active)? = slot else { throw VerseError(.notFound, "no active object \(key)") }
        RuntimeMetrics.deactivations[Deactivation(type: type, reason: .deleted)].increment()
        try await active.mailbox.run { await active.object.onDeactivate() }
    }

    private func enterShard(_ shard: Int) throws {
        try state.withLockedValue { state in
            guard state.shards.enter(shard, owned: state.map.owner(of: shard) == address) else {
                throw ShardNotServed(shard: shard, node: address)
            }
        }
    }

    private func leaveShard(_ shard: Int) {
        let drained = state.withLockedValue { $0.shards.leave(shard) }
        for drain in drained { drain.resume() }
    }

    private func activeObject(_ objectType: ObjectType, id: String, shard: Int) async throws -> ActiveObject {
        let key = ObjectKey(type: objectType.name, id: id)
        enum Found { case active(ActiveObject), activating(Task<ActiveObject, Error>) }
        let found = try state.withLockedValue { state -> Found in
            switch state.objects[key] {
            case .active(let active)?: return .active(active)
            case .activating(let task)?: return .activating(task)
            case nil:
                guard objectType.allowsActivation(of: id) else {
                    throw VerseError(.notFound, "there is no \(objectType.name) \"\(ClientInput.brief(id))\"")
                }
                let eventLoop = eventLoops.next()
                let carried = state.handedOver.take(key)
                let task = Task {
                    // A durable object starts from the store (taking a new owner epoch);
                    // others from a hand-over, if one came, or empty.
                    var stored: StoredObject?
                    var journal: ObjectJournal?
                    if let store, objectType.isDurable {
                        // Cut off from the coordinator (or paused) past its lease, this node
                        // may have lost the shard already: taking the object in the store
                        // now would fence out its real owner.
                        guard self.state.withLockedValue({ $0.shards.membershipConfirmedUntil }) > .now else {
                            throw VerseError(.unavailable, "\(address) cannot confirm its membership in the cluster: not activating \(key)")
                        }
                        do {
                            stored = try await store.activate(key)
                        } catch let unavailable as StoreUnavailable {
                            throw VerseError(.unavailable, unavailable.description)
                        }
                        journal = ObjectJournal(store: store, key: key, epoch: stored!.epoch, eventLoop: eventLoop,
                                                statistics: self.storeStatistics) { [weak self] journal, error in
                            self?.dropAfterFailedWrite(key, journal: journal, error)
                        }
                    }
                    let runtime = ObjectRuntime(typeName: objectType.name, id: id, node: self, eventLoop: eventLoop, journal: journal)
                    let object = objectType.makeObject(id: id, runtime: runtime)
                    try await object.onCreated()
                    if let stored {
                        if let snapshot = stored.snapshot { try await object.restore(from: try ProtoAny(serializedBytes: snapshot)) }
                        for entry in stored.entries { try await objectType.replay(object, try ProtoAny(serializedBytes: entry.bytes)) }
                    } else if let carried {
                        try await object.restore(from: carried)
                    }
                    RuntimeMetrics.activations[objectType.name].increment()
                    return ActiveObject(object: object, shard: shard, journal: journal)
                }
                state.objects[key] = .activating(task)
                return .activating(task)
            }
        }
        switch found {
        case .active(let active):
            return active
        case .activating(let task):
            do {
                let active = try await task.value
                state.withLockedValue { state in
                    if case .activating? = state.objects[key] { state.objects[key] = .active(active) }
                }
                return active
            } catch {
                state.withLockedValue { _ = $0.objects.removeValue(forKey: key) }
                logger.warning("activation of \(key) failed: \(error)")
                if let error = error as? VerseError { throw error }
                throw VerseError(.internal, "activating \(key) failed: \(error)")
            }
        }
    }

    // MARK: clients

    func watch(client: String, by object: ObjectKey) {
        state.withLockedValue { _ = $0.clientWatches[client, default: []].insert(object) }
    }

    func unwatch(client: String, by object: ObjectKey) {
        state.withLockedValue { state in
            state.clientWatches[client]?.remove(object)
            if state.clientWatches[client]?.isEmpty == true { state.clientWatches[client] = nil }
        }
    }

    /// A gate reported these clients gone: tell every object that watched them.
    public func clientsGone(_ clientIDs: [String]) async {
        for clientID in clientIDs {
            let (watchers, objects) = state.withLockedValue { state in
                (state.clientWatches.removeValue(forKey: clientID) ?? [], state.objects)
            }
            for key in watchers {
                guard case .active(let active)? = objects[key] else { continue }
                _ = try? await active.mailbox.run { await active.object.onClientGone(clientID) }
            }
        }
    }

    // MARK: shard ownership

    /// The map this node routes and serves by.
    public var shardMap: ShardMap { state.withLockedValue { $0.map } }

    /// Adopts a new map. Objects of shards this node no longer serves are dropped.
    func apply(map: ShardMap) async {
        guard let lost = adopt(map), !lost.isEmpty else { return }
        await deactivate(shards: lost, objects: state.withLockedValue { $0.objects })
    }

    /// Takes `map` as the one to serve by, unless it is older than the current one
    /// (maps can be delivered out of order; going back would refuse shards this node
    /// owns). Returns the shards no longer served here, nil if `map` was stale.
    func adopt(_ map: ShardMap) -> Set<Int>? {
        state.withLockedValue { state -> Set<Int>? in
            guard map.revision >= state.map.revision else { return nil }
            let before = Set(state.map.shards(servedBy: address))
            state.map = map
            // A third node claimed the shard: state handed here for it is stale.
            state.handedOver.keepCurrent(in: map, here: address)
            state.shards.keepReleasing { map.owner(of: $0) == address }
            return before.subtracting(map.shards(servedBy: address))
        }
    }

    /// Stops serving every shard at once, objects kept: the coordinator calls this when
    /// the store says this node's lease expired (it was paused or cut off past its TTL),
    /// so others may already have claimed its shards. `resumeServing` follows the next
    /// registration's listing, whose map (adopted first) drops the shards that moved.
    func suspendServing() {
        state.withLockedValue { $0.shards.suspended = true }
    }

    func resumeServing() {
        state.withLockedValue { $0.shards.suspended = false }
    }

    /// The coordinator confirmed this node's lease: it cannot expire before `instant`.
    func confirmMembership(until instant: ContinuousClock.Instant) {
        state.withLockedValue { state in
            state.shards.membershipConfirmedUntil = max(state.shards.membershipConfirmedUntil, instant)
        }
    }

    /// Drops the objects of shards this node no longer serves.
    func deactivate(lostShards: Set<Int>) async {
        await deactivate(shards: lostShards, objects: state.withLockedValue { $0.objects })
    }

    /// Stops serving `shards`: refuses new calls, waits for running ones, deactivates
    /// their objects. Afterwards the shards may be given to another node. Returns the
    /// state the objects handed off (`VirtualObject.handOff`), for the next owner.
    @discardableResult
    func release(shards: Set<Int>) async -> [Verse_HandedOverObject] {
        guard !shards.isEmpty else { return [] }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let drained = state.withLockedValue { $0.shards.release(shards, done: done) }
            if drained { done.resume() }
        }
        RuntimeMetrics.shardsReleased.increment(by: shards.count)
        let handedOff = await deactivate(shards: shards, objects: state.withLockedValue { $0.objects })
        RuntimeMetrics.handedOverSent.increment(by: handedOff.count)
        return handedOff
    }

    @discardableResult
    private func deactivate(shards: Set<Int>, objects: [ObjectKey: Slot]) async -> [Verse_HandedOverObject] {
        var handedOff: [Verse_HandedOverObject] = []
        var count = 0
        for (key, slot) in objects {
            guard case .active(let active) = slot, shards.contains(active.shard) else { continue }
            state.withLockedValue { _ = $0.objects.removeValue(forKey: key) }
            RuntimeMetrics.deactivations[Deactivation(type: key.type, reason: .shardMoved)].increment()
            count += 1
            let carried = try? await active.mailbox.run { () -> ProtoAny? in
                let carried = await active.object.handOff()
                await active.object.onDeactivate()
                return carried
            }
            if let carried { handedOff.append(Self.handedOver(key, carried)) }
        }
        // State handed here for objects never called since goes on to the next owner.
        let unclaimed = state.withLockedValue { $0.handedOver.removeAll(in: shards, shardCount: shardCount) }
        handedOff += unclaimed.map { Self.handedOver($0.key, $0.value) }
        if count > 0 {
            logger.info("deactivated \(count) objects of \(shards.count) shards leaving this node", metadata: ["handed-off": "\(handedOff.count)"])
        }
        return handedOff
    }

    private static func handedOver(_ key: ObjectKey, _ state: ProtoAny) -> Verse_HandedOverObject {
        var object = Verse_HandedOverObject()
        object.type = key.type
        object.id = key.id
        object.state = state
        return object
    }

    /// State another node handed over for objects of shards this node is about to serve.
    func receive(handedOver objects: [Verse_HandedOverObject], from sender: String) {
        let now = ContinuousClock.now
        state.withLockedValue { state in
            for object in objects where types[object.type] != nil {
                state.handedOver.receive(ObjectKey(type: object.type, id: object.id), state: object.state ?? ProtoAny(),
                                         from: sender, at: now)
            }
        }
        RuntimeMetrics.handedOverReceived.increment(by: objects.count)
        logger.info("received the state of \(objects.count) handed-over objects")
    }

    /// Drops objects idle past their type's timeout. Returns how many.
    @discardableResult
    func collectIdleObjects(now: ContinuousClock.Instant = .now) async -> Int {
        let candidates = state.withLockedValue { state in
            state.objects.compactMap { key, slot -> (ObjectKey, ActiveObject)? in
                guard case .active(let active) = slot, let timeout = types[key.type]?.idleTimeout,
                      active.lastUsed.withLockedValue({ now - $0 }) > timeout, active.mailbox.isIdle else { return nil }
                return (key, active)
            }
        }
        for (key, active) in candidates {
            state.withLockedValue { _ = $0.objects.removeValue(forKey: key) }
            RuntimeMetrics.deactivations[Deactivation(type: key.type, reason: .idle)].increment()
            _ = try? await active.mailbox.run { await active.object.onDeactivate() }
        }
        state.withLockedValue { state in
            let map = state.map
            state.handedOver.expire(now: now) { map.owner(of: $0.shard(among: shardCount)) == address }
        }
        return candidates.count
    }
}
