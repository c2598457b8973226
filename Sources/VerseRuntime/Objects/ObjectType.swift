import VerseGRPC
import VerseProtobuf

/// A registered object type with its generic parts erased, so the node can keep
/// every type in one table.
struct ObjectType: Sendable {
    let name: String
    /// Method -> full name of the request message it takes.
    let requestTypes: [String: String]
    let idleTimeout: Duration?
    private let allows: @Sendable (String) -> Bool
    private let make: @Sendable (String, ObjectRuntime) -> any VirtualObject
    private let invoke: @Sendable (any VirtualObject, String, ProtoAny, CallContext) async throws -> ProtoAny

    init<Object: VirtualObject>(_ type: Object.Type) {
        name = Object.typeName
        requestTypes = Object.methods.requestTypes
        idleTimeout = Object.idleTimeout
        allows = { Object.allowsActivation(of: $0) }
        make = { id, runtime in Object(id: id, runtime: runtime) }
        invoke = { object, method, request, context in
            guard let typed = object as? Object, let body = Object.methods.methods[method] else {
                throw VerseError(.unimplemented, "\(Object.typeName) has no method \(method)")
            }
            return try await body(typed, request, context)
        }
    }

    func allowsActivation(of id: String) -> Bool { allows(id) }
    func makeObject(id: String, runtime: ObjectRuntime) -> any VirtualObject { make(id, runtime) }
    func call(_ object: any VirtualObject, method: String, request: ProtoAny, context: CallContext) async throws -> ProtoAny {
        try await invoke(object, method, request, context)
    }
}
