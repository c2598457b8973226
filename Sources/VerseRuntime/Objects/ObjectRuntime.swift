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

    /// The address of the node hosting this object.
    public var nodeAddress: String { node.address }

    init(typeName: String, id: String, node: Node, eventLoop: EventLoop) {
        self.typeName = typeName
        self.id = id
        self.node = node
        self.eventLoop = eventLoop
        self.serialExecutor = eventLoop.executor
    }

    /// An executor on the object's event loop. An object that declares
    /// `nonisolated var unownedExecutor: UnownedSerialExecutor { runtime.executor }`
    /// runs on the same threads as the network: its calls and pushes cost no thread
    /// switch. (Swift does not let the runtime choose an actor's executor for it.)
    public nonisolated var executor: UnownedSerialExecutor { serialExecutor.asUnownedSerialExecutor() }

    /// Pushes `message` to each client in `clientIDs`. The message is encoded once;
    /// each gate gets one envelope for all of its clients, in the order pushed.
    public func push<Message: ProtoMessage>(_ message: Message, to clientIDs: [String]) {
        node.pushes.push(ProtoAny(packing: message), to: clientIDs)
    }

    /// Pushes `message` to every client of every gate.
    public func broadcast<Message: ProtoMessage>(_ message: Message) {
        node.pushes.broadcast(ProtoAny(packing: message))
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
struct ObjectKey: Hashable, Sendable, CustomStringConvertible {
    let type: String
    let id: String
    var description: String { "\(type)/\(id)" }

    /// The shard the object lives in, among `count`.
    func shard(among count: Int) -> Int { ShardID.of(id, count: count) }
}
