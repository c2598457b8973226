import NIOCore
import VerseGRPC
import VerseProtobuf

/// What an object can do beyond its own state: push to clients, call other objects,
/// and watch clients so it hears when they go away.
public final class ObjectRuntime: Sendable {
    public let typeName: String
    public let id: String
    private unowned let node: Node
    /// The event loop this object is assigned to.
    public let eventLoop: EventLoop
    private let serialExecutor: any SerialExecutor
    /// This activation's writes to the object store; nil without a store (or for an
    /// object that is not a DurableObject).
    let journal: ObjectJournal?

    /// The address of the node hosting this object.
    public var nodeAddress: String { node.address }

    init(typeName: String, id: String, node: Node, eventLoop: EventLoop, journal: ObjectJournal? = nil) {
        self.typeName = typeName
        self.id = id
        self.node = node
        self.eventLoop = eventLoop
        self.serialExecutor = eventLoop.executor
        self.journal = journal
    }

    /// Whether changes recorded here are written to an object store.
    public var isDurable: Bool { journal != nil }

    /// Makes `entry` part of the object's journal (see DurableObject): written, together
    /// with whatever else is waiting, before the current call answers. Without a store,
    /// nothing happens.
    public func record<Entry: ProtoMessage>(_ entry: Entry) {
        journal?.record(ProtoAny(packing: entry).serializedBytes())
    }

    /// Saves the object's whole state as of now (what `restore(from:)` takes): later
    /// activations start from it and replay only the entries recorded after it.
    public func saveSnapshot<State: ProtoMessage>(_ state: State) {
        journal?.saveSnapshot(ProtoAny(packing: state).serializedBytes())
    }

    /// Up to `limit` of the object's stored journal entries numbered above `number`,
    /// oldest first, as written (what `record` took): for reading history that the
    /// object no longer holds in memory. Empty without a store.
    public func storedEntries(after number: Int64, limit: Int) async throws -> [(number: Int64, entry: ProtoAny)] {
        guard let journal else { return [] }
        let stored: [JournalEntry]
        do {
            stored = try await journal.store.entries(of: journal.key, after: number, limit: limit)
        } catch let unavailable as StoreUnavailable {
            throw VerseError(.unavailable, unavailable.description)
        }
        return try stored.map { (number: $0.number, entry: try ProtoAny(serializedBytes: $0.bytes)) }
    }

    /// An executor on the object's event loop. An object that declares
    /// `nonisolated var unownedExecutor: UnownedSerialExecutor { runtime.executor }`
    /// runs on the same threads as the network: its calls and pushes cost no thread
    /// switch. (Swift does not let the runtime choose an actor's executor for it.)
    public nonisolated var executor: UnownedSerialExecutor { serialExecutor.asUnownedSerialExecutor() }

    /// Pushes `message` to each client in `clientIDs`. The message is encoded once;
    /// each gate gets one envelope for all of its clients, in the order pushed.
    /// With a store, pushes wait until what was recorded before them is durable: nobody
    /// is shown a change that could still be lost.
    public func push<Message: ProtoMessage>(_ message: Message, to clientIDs: [String]) {
        let packed = ProtoAny(packing: message)
        let origin = PushOrigin.current()
        afterRecorded { $0.push(packed, to: clientIDs, origin: origin) }
    }

    /// Pushes `message` to every client of every gate (after what was recorded, as `push`).
    public func broadcast<Message: ProtoMessage>(_ message: Message) {
        let packed = ProtoAny(packing: message)
        let origin = PushOrigin.current()
        afterRecorded { $0.broadcast(packed, origin: origin) }
    }

    /// Runs `send` now, or once what was recorded before it is durable.
    private func afterRecorded(_ send: @escaping @Sendable (PushRouter) -> Void) {
        let pushes = node.pushes
        guard let journal else { return send(pushes) }
        journal.afterDurable { send(pushes) }
    }

    /// Calls a method on another object, wherever in the cluster it lives.
    public func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request,
        responseType: Response.Type = Response.self, timeout: Duration = .seconds(10)
    ) async throws -> Response {
        let response = try await node.router.call(
            type: type, id: id, method: method, request: ProtoAny(packing: request),
            context: .internalCall, timeout: timeout)
        do {
            return try response.unpack(Response.self)
        } catch {
            throw VerseError(.internal, "\(type).\(method) answered \(response.typeUrl), expected \(Response.protoMessageName)")
        }
    }

    /// Activates another object (no-op if it is already active).
    public func create(_ type: String, _ id: String, timeout: Duration = .seconds(10)) async throws {
        try await node.router.create(type: type, id: id, context: .internalCall, timeout: timeout)
    }

    /// `onClientGone(clientID)` will be called on this object when that client's
    /// session ends (its gate reports it).
    public func watchClient(_ clientID: String) {
        node.watch(client: clientID, by: ObjectKey(type: typeName, id: id))
    }

    public func unwatchClient(_ clientID: String) {
        node.unwatch(client: clientID, by: ObjectKey(type: typeName, id: id))
    }
}

/// An object's identity within the cluster.
/// An object's identity: its type and id.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible {
    public let type: String
    public let id: String
    public init(type: String, id: String) {
        self.type = type
        self.id = id
    }
    public var description: String { "\(type)/\(id)" }

    /// The shard the object lives in, among `count`.
    func shard(among count: Int) -> Int { ShardID.of(id, count: count) }
}
