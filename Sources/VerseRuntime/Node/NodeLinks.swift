import Logging
import NIOCore
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// Connections to other nodes' NodeService, one gRPC client per node, made on first use.
final class NodeLinks: Sendable {
    private let clients = NIOLockedValueBox<[String: RemoteNode]>([:])
    private let tls: TLSConfiguration?
    private let secret: ClusterSecret?
    private let group: EventLoopGroup
    private let logger: Logger

    init(tls: TLSConfiguration? = nil, secret: ClusterSecret?, group: EventLoopGroup, logger: Logger) {
        self.tls = tls
        self.secret = secret
        self.group = group
        self.logger = logger
    }

    func link(to address: String) throws -> RemoteNode {
        if let existing = clients.withLockedValue({ $0[address] }) { return existing }
        let created = try RemoteNode(address: address, tls: tls, secret: secret, group: group)
        return clients.withLockedValue { clients in
            if let raced = clients[address] { return raced }
            clients[address] = created
            return created
        }
    }

    func closeAll() async {
        let all = clients.withLockedValue { clients -> [RemoteNode] in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for node in all { await node.client.close() }
    }
}

/// Another node's NodeService.
final class RemoteNode: Sendable {
    let address: String
    let client: GRPCClient
    /// Sent with every call: the cluster secret, if any.
    let callMetadata: Metadata

    init(address: String, tls: TLSConfiguration?, secret: ClusterSecret?, group: EventLoopGroup) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw VerseError(.internal, "node address \"\(address)\" is not host:port")
        }
        self.address = address
        self.callMetadata = secret?.metadata ?? Metadata()
        self.client = try GRPCClient(configuration: GRPCClient.Configuration(host: String(address[..<colon]), port: port, tls: tls),
                                     group: group)
    }

    static func caller(_ context: CallContext) -> Verse_Caller? {
        guard context.clientID != nil || context.user != nil else { return nil }
        var caller = Verse_Caller()
        caller.clientId = context.clientID ?? ""
        caller.user = context.user ?? ""
        return caller
    }

    func call(type: String, id: String, method: String, request: ProtoAny, context: CallContext,
              timeout: Duration) async throws -> ProtoAny {
        var message = Verse_NodeCallRequest()
        message.type = type
        message.id = id
        message.method = method
        message.request = request
        message.caller = Self.caller(context)
        let response: Verse_NodeCallResponse = try await unary("/verse.NodeService/CallObject", message, timeout: timeout)
        return response.response ?? ProtoAny()
    }

    func create(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        var message = Verse_NodeCreateRequest()
        message.type = type
        message.id = id
        message.caller = Self.caller(context)
        let _: Verse_NodeCreateResponse = try await unary("/verse.NodeService/CreateObject", message, timeout: timeout)
    }

    func delete(type: String, id: String, context: CallContext, timeout: Duration) async throws {
        var message = Verse_NodeDeleteRequest()
        message.type = type
        message.id = id
        message.caller = Self.caller(context)
        let _: Verse_NodeDeleteResponse = try await unary("/verse.NodeService/DeleteObject", message, timeout: timeout)
    }

    func describe() async throws -> [String: Set<String>] {
        let response: Verse_DescribeResponse = try await unary("/verse.NodeService/Describe", Verse_DescribeRequest(), timeout: .seconds(5))
        return Dictionary(response.types.map { ($0.name, Set($0.methods)) }, uniquingKeysWith: { first, _ in first })
    }

    func handOver(_ objects: [Verse_HandedOverObject], from sender: String) async throws {
        var message = Verse_HandOverRequest()
        message.objects = objects
        message.fromNode = sender
        let _: Verse_HandOverResponse = try await unary("/verse.NodeService/HandOver", message, timeout: .seconds(5))
    }

    func clientsGone(_ clientIDs: [String]) async throws {
        var message = Verse_ClientGoneRequest()
        message.clientIds = clientIDs
        let _: Verse_ClientGoneResponse = try await unary("/verse.NodeService/ClientGone", message, timeout: .seconds(5))
    }

    /// A unary call that turns the cluster's retry signals into errors the router
    /// understands: a shard refusal (trailer marker) and an unreachable node.
    private func unary<Request: ProtoMessage, Response: ProtoMessage>(
        _ path: String, _ request: Request, timeout: Duration
    ) async throws -> Response {
        let call: ClientCall
        do {
            call = try await client.makeCall(path: path, metadata: callMetadata, timeout: timeout)
        } catch let status as GRPCStatus where status.code == .unavailable {
            throw NodeUnreachable(node: address, reason: status.message)
        }
        try? await call.send(request)
        call.finishSending()
        do {
            return try await StreamingCall<Request, Response>(call: call).response()
        } catch let status as GRPCStatus {
            if let shard = await call.trailingMetadata()[ShardNotServed.metadataKey].flatMap(Int.init) {
                throw ShardNotServed(shard: shard, node: address)
            }
            if await call.endCause() == .connectionLost {
                throw NodeUnreachable(node: address, reason: status.message)
            }
            throw VerseError(status)
        }
    }
}
