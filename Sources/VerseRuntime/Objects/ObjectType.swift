import VerseGRPC
import VerseProtobuf

/// A registered object type with its generic parts erased, so the node can keep
/// every type in one table.
struct ObjectType: Sendable {
    let name: String
    /// Method -> full name of the request message it takes.
    let requestTypes: [String: String]
    let idleTimeout: Duration?
    /// Its objects journal their changes (DurableObject).
    let isDurable: Bool
    /// Per method: calls by outcome and their duration (made once, at registration).
    let callMetrics: [String: ObjectCallMetrics]
    private let allows: @Sendable (String) -> Bool
    private let make: @Sendable (String, ObjectRuntime) -> any VirtualObject
    private let invoke: @Sendable (any VirtualObject, String, ProtoAny, CallContext) async throws -> ProtoAny
    private let replayEntry: @Sendable (any VirtualObject, ProtoAny) async throws -> Void

    init<Object: VirtualObject>(_ type: Object.Type) {
        name = Object.typeName
        requestTypes = Object.methods.requestTypes
        callMetrics = Dictionary(uniqueKeysWithValues: Object.methods.names.map {
            ($0, ObjectCallMetrics(type: Object.typeName, method: $0))
        })
        idleTimeout = Object.idleTimeout
        isDurable = Object.self is any DurableObject.Type
        replayEntry = { object, entry in
            guard let durable = object as? any DurableObject else { return }
            try await durable.replay(entry)
        }
        allows = { Object.allowsActivation(of: $0) }
        make = { id, runtime in Object(id: id, runtime: runtime) }
        invoke = { object, method, request, context in
            guard let typed = object as? Object, let body = Object.methods.methods[method] else {
                throw VerseError(.unimplemented, "\(Object.typeName) has no method \(ClientInput.brief(method))")
            }
            return try await body(typed, request, context)
        }
    }

    func allowsActivation(of id: String) -> Bool { allows(id) }
    func makeObject(id: String, runtime: ObjectRuntime) -> any VirtualObject { make(id, runtime) }
    func replay(_ object: any VirtualObject, _ entry: ProtoAny) async throws {
        try await replayEntry(object, entry)
    }

    func call(_ object: any VirtualObject, method: String, request: ProtoAny, context: CallContext) async throws -> ProtoAny {
        try await invoke(object, method, request, context)
    }
}
