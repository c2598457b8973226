import VerseGRPC
import VerseProtobuf

/// An application object type: a Swift actor with one instance per id, activated on
/// first use on the node that owns the id's shard (a virtual actor).
///
/// Calls to one object run one at a time, start to finish (the node queues them), so
/// a method may await other objects without another call slipping in between.
public protocol VirtualObject: Actor {
    /// The type name clients use, e.g. `ChatRoom`.
    static var typeName: String { get }
    /// The methods callers may invoke.
    static var methods: MethodTable<Self> { get }
    /// Whether an object with this id may exist; others are NOT_FOUND and never activated.
    static func allowsActivation(of id: String) -> Bool
    /// Deactivate after this long without calls; nil keeps the object until deleted
    /// or moved.
    static var idleTimeout: Duration? { get }

    init(id: String, runtime: ObjectRuntime)
    /// Runs once, right after activation, before the first call.
    func onCreated() async throws
    /// A client this object watched (`ObjectRuntime.watchClient`) went away.
    func onClientGone(_ clientID: String) async
    /// Runs before the object is dropped (deleted, idle, or its shard moved).
    func onDeactivate() async
    /// State to carry over when the object's shard moves to another node by a planned
    /// move (rebalancing after a node joins): the next node gets it in `restore(from:)`
    /// when it activates the object. nil (the default): start empty there. Objects of a
    /// node that dies, or that is stopped, start empty.
    func handOff() async -> ProtoAny?
    /// Takes the state the previous node's `handOff()` gave, right after `onCreated`.
    func restore(from state: ProtoAny) async throws
}

extension VirtualObject {
    public static func allowsActivation(of id: String) -> Bool { true }
    public static var idleTimeout: Duration? { .seconds(600) }
    public func onCreated() async throws {}
    public func onClientGone(_ clientID: String) async {}
    public func onDeactivate() async {}
    public func handOff() async -> ProtoAny? { nil }
    public func restore(from state: ProtoAny) async throws {}
}

/// An object whose changes are journaled in the object store, when one is configured
/// (`--store`): it records each change with `ObjectRuntime.record(_:)` (and now and then
/// its whole state with `saveSnapshot(_:)`), and rebuilds itself from them whenever it
/// is activated: `restore(from:)` with the last snapshot, then `replay(_:)` for each
/// entry after it, oldest first. A call that recorded something answers only once it
/// is durable, and its pushes go out only then. Without a store it lives in memory, as
/// any object does.
public protocol DurableObject: VirtualObject {
    /// Applies one recorded entry (on activation, oldest first).
    func replay(_ entry: ProtoAny) throws
}

/// Who made a call. Set by the gate from the verified session; empty for calls that
/// objects make to each other. Objects must take the user from here, never from
/// request fields.
public struct CallContext: Sendable, Equatable {
    public var clientID: String?
    public var user: String?

    public init(clientID: String? = nil, user: String? = nil) {
        self.clientID = clientID
        self.user = user
    }

    public static let internalCall = CallContext()
}

/// The methods of an object type, built once:
///
/// ```swift
/// static let methods = MethodTable<Counter>()
///     .method("Increment") { (counter: isolated Counter, request: IncrementRequest, context: CallContext) in
///         counter.increment(request)
///     }
/// ```
public struct MethodTable<Object: VirtualObject>: Sendable {
    typealias Invoke = @Sendable (Object, ProtoAny, CallContext) async throws -> ProtoAny
    private(set) var methods: [String: Invoke] = [:]
    /// Method -> full name of its request message, checked before any activation.
    private(set) var requestTypes: [String: String] = [:]

    public init() {}

    public var names: [String] { methods.keys.sorted() }

    /// Adds a method. The body runs isolated to the object; the request arrives
    /// decoded (a wrong or undecodable Any is INVALID_ARGUMENT before the body runs).
    public func method<Request: ProtoMessage, Response: ProtoMessage>(
        _ name: String,
        _ body: @escaping @Sendable (isolated Object, Request, CallContext) async throws -> Response
    ) -> MethodTable {
        var table = self
        table.requestTypes[name] = Request.protoMessageName
        table.methods[name] = { object, payload, context in
            let request: Request
            do {
                // An absent Any is the request's default value (proto3 reading of a
                // missing message field), as other gates accept it.
                request = payload.typeUrl.isEmpty && payload.value.isEmpty ? Request() : try payload.unpack(Request.self)
            } catch let mismatch as ProtoAnyTypeMismatch {
                throw VerseError(.invalidArgument, "\(Object.typeName).\(name): \(mismatch)")
            } catch {
                throw VerseError(.invalidArgument, "\(Object.typeName).\(name): request is not a valid \(Request.protoMessageName)")
            }
            return ProtoAny(packing: try await body(object, request, context))
        }
        return table
    }
}
