import Logging
import NIOCore
import VerseGRPC
import VerseProtobuf

/// `verse.NodeService`: how gates (and other nodes) reach this node's objects, and
/// how gates subscribe to pushes.
enum NodeService {
    static func make(node: Node, logger: Logger) -> GRPCService {
        var service = GRPCService(name: "verse.NodeService")
        service.unary("CallObject") { (request: Verse_NodeCallRequest, context) -> Verse_NodeCallResponse in
            try await refusalsAsTrailers(context) {
                var response = Verse_NodeCallResponse()
                response.response = try await node.call(
                    type: request.type, id: request.id, method: request.method,
                    request: request.request ?? ProtoAny(), context: callContext(request.caller))
                return response
            }
        }
        service.unary("CreateObject") { (request: Verse_NodeCreateRequest, context) -> Verse_NodeCreateResponse in
            try await refusalsAsTrailers(context) {
                try await node.create(type: request.type, id: request.id)
                var response = Verse_NodeCreateResponse()
                response.id = request.id
                return response
            }
        }
        service.unary("DeleteObject") { (request: Verse_NodeDeleteRequest, context) -> Verse_NodeDeleteResponse in
            try await refusalsAsTrailers(context) {
                try await node.delete(type: request.type, id: request.id)
                return Verse_NodeDeleteResponse()
            }
        }
        service.unary("ClientGone") { (request: Verse_ClientGoneRequest, _) -> Verse_ClientGoneResponse in
            await node.clientsGone(request.clientIds)
            return Verse_ClientGoneResponse()
        }
        service.unary("HandOver") { (request: Verse_HandOverRequest, _) -> Verse_HandOverResponse in
            node.receive(handedOver: request.objects, from: request.fromNode)
            return Verse_HandOverResponse()
        }
        service.unary("Describe") { (_: Verse_DescribeRequest, _) -> Verse_DescribeResponse in
            var response = Verse_DescribeResponse()
            response.types = node.catalog.sorted { $0.key < $1.key }.map { name, methods in
                var info = Verse_ObjectTypeInfo()
                info.name = name
                info.methods = methods.sorted()
                return info
            }
            return response
        }
        service.serverStreaming("RegisterGate") {
            (request: Verse_RegisterGateRequest, _: ResponseWriter<Verse_GatePush>, context) in
            guard !request.gate.isEmpty else { throw VerseError(.invalidArgument, "RegisterGate needs the gate's address") }
            let sink = RemoteGateSink(call: context.call)
            node.pushes.attach(gate: request.gate, sink: sink)
            logger.info("gate \(request.gate) subscribed to pushes")
            await context.call.sendInitialMetadata() // the gate learns the subscription is live
            // Pushes flow (writeOnEventLoop) until the gate goes away.
            context.call.keepOpen { [node, logger] _ in
                node.pushes.detach(gate: request.gate)
                logger.info("gate \(request.gate) unsubscribed")
            }
        }
        return service
    }

    static func callContext(_ caller: Verse_Caller?) -> CallContext {
        guard let caller else { return .internalCall }
        return CallContext(clientID: caller.clientId.isEmpty ? nil : caller.clientId,
                           user: caller.user.isEmpty ? nil : caller.user)
    }

    /// A shard refusal goes back as ABORTED plus a trailer the caller's router
    /// recognises; anything else passes through.
    static func refusalsAsTrailers<T: Sendable>(_ context: ServerContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let refusal as ShardNotServed {
            var trailers = Metadata()
            trailers.add(ShardNotServed.metadataKey, String(refusal.shard))
            context.addTrailingMetadata(trailers)
            throw refusal.status
        }
    }
}

/// A gate's RegisterGate stream, as a push destination. Writes hop to the stream's
/// event loop in call order; a gate that stops reading is cut off past 64 MiB.
struct RemoteGateSink: GateSink {
    let call: ServerCall
    static let limit = ServerCall.BacklogLimit(bytes: 64 << 20, grace: .seconds(10))

    func deliver(_ push: Verse_GatePush, origin: PushOrigin) -> Bool {
        let shared = SharedMessage(push)
        let call = self.call
        call.eventLoop.execute {
            _ = call.writeOnEventLoop(shared, limit: Self.limit)
        }
        return true
    }
}
