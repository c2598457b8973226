import VerseProtobuf

/// Where an object's calls run: this process's node, or another node over NodeService.
/// The router picks one per attempt and no longer cares which it got.
protocol ObjectHost: Sendable {
    func call(type: String, id: String, method: String, request: ProtoAny, context: CallContext,
              timeout: Duration) async throws -> ProtoAny
    func create(type: String, id: String, context: CallContext, timeout: Duration) async throws
    func delete(type: String, id: String, context: CallContext, timeout: Duration) async throws
}

extension RemoteNode: ObjectHost {}

/// In-process: no hop, so no per-hop deadline (the router's deadline bounds the attempt),
/// and the caller is known already.
extension Node: ObjectHost {
    func call(type: String, id: String, method: String, request: ProtoAny, context: CallContext,
              timeout: Duration) async throws -> ProtoAny {
        try await call(type: type, id: id, method: method, request: request, context: context)
    }

    func create(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        try await create(type: type, id: id)
    }

    func delete(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        try await delete(type: type, id: id)
    }
}
