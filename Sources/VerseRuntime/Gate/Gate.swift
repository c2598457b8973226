import Logging
import NIOConcurrencyHelpers
import NIOCore
import VerseGRPC
import VerseProtobuf

/// The gate: the only service clients talk to (`gate.GateService`, DESIGN.md's fixed
/// client contract). It authenticates clients, binds each client id to the connection
/// that registered it, routes calls to the node serving the object's shard, and
/// delivers pushes from nodes to client streams. It hosts no objects.
public final class Gate: Sendable {
    public struct Configuration: Sendable {
        /// The address clients use; client ids start with it.
        public var advertiseAddress: String
        public var authenticator: any Authenticator
        public var policy: AccessPolicy
        /// Deadline for routed calls when the client sets none (or a longer one).
        public var callTimeout: Duration = .seconds(10)
        /// A client whose unread pushes stay above this for `slowClientGrace` (or pass
        /// 16 times it at any moment) is disconnected instead of growing memory.
        public var maxQueuedPushBytes = 4 << 20
        public var slowClientGrace: Duration = .seconds(2)
        /// Register streams one connection may hold; one more is refused.
        public var maxRegistrationsPerConnection = 256
        /// Pushes are compressed with this for clients that accept it, nil (the default)
        /// for none: compression costs CPU per push and buys little for short chat
        /// messages. Each push is compressed once, for all such clients together.
        public var pushCompression: GRPCCompression?
        /// Also serve the HTTP API (and a web client) for browsers; nil: gRPC only.
        public var http: HTTPGateConfiguration?

        public init(advertiseAddress: String, authenticator: any Authenticator, policy: AccessPolicy) {
            self.advertiseAddress = advertiseAddress
            self.authenticator = authenticator
            self.policy = policy
        }
    }

    public let configuration: Configuration
    let router: ClusterRouter
    let loginThrottle = LoginThrottle()
    let sessions = NIOLockedValueBox(SessionTable())

    /// Registered clients by id, and by connection: Create and Delete name no client,
    /// so the connection's earliest registered client acts (found without a scan).
    struct SessionTable {
        var byID: [String: ClientSession] = [:]
        var byConnection: [ObjectIdentifier: ConnectionClients] = [:]

        /// One connection's registered clients, oldest first. Nearly every connection
        /// has one: it is held without an array (an array is 48 bytes per client).
        struct ConnectionClients {
            private(set) var first: String
            private var later: [String] = []

            init(_ first: String) { self.first = first }

            var count: Int { 1 + later.count }

            mutating func append(_ clientID: String) { later.append(clientID) }

            /// Without `clientID`; nil when it was the last.
            func removing(_ clientID: String) -> ConnectionClients? {
                var rest = self
                if rest.first == clientID {
                    guard !rest.later.isEmpty else { return nil }
                    rest.first = rest.later.removeFirst()
                } else {
                    rest.later.removeAll { $0 == clientID }
                }
                return rest
            }
        }

        mutating func insert(_ session: ClientSession) {
            byID[session.id] = session
            let connection = session.stream.connectionID
            if byConnection[connection] == nil {
                byConnection[connection] = ConnectionClients(session.id)
            } else {
                byConnection[connection]!.append(session.id)
            }
        }

        mutating func remove(_ clientID: String) {
            guard let session = byID.removeValue(forKey: clientID) else { return }
            let connection = session.stream.connectionID
            byConnection[connection] = byConnection[connection]?.removing(clientID)
        }

        func first(on connection: ObjectIdentifier) -> ClientSession? {
            byConnection[connection].flatMap { byID[$0.first] }
        }
    }
    private let nextClientNumber = NIOLockedValueBox<UInt64>(0)
    private let instance = UInt32.random(in: 0...UInt32.max)
    let logger: Logger
    /// Reports clients that went away to the nodes.
    private let departures: DepartureReporter
    /// The nodes' object types and methods (the gate hosts none itself).
    private let catalog: ObjectCatalog

    init(configuration: Configuration, router: ClusterRouter, logger: Logger,
         reportGone: @escaping @Sendable ([String]) async -> Void,
         catalog: @escaping @Sendable () async -> [String: Set<String>]?) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.departures = DepartureReporter(report: reportGone)
        self.catalog = ObjectCatalog(fetch: catalog)
    }

    /// Answers in the order a client can act on: unknown type (NOT_FOUND), unknown
    /// method (UNIMPLEMENTED), not allowed (PERMISSION_DENIED), no client where one is
    /// needed (UNAUTHENTICATED).
    func authorize(type: String, method: String, session: ClientSession?,
                   howToRegister: String = "call Register and pass its client id") async throws {
        try ClientInput.check(type, "object type", atMost: ClientInput.maxNameBytes)
        try ClientInput.check(method, "method", atMost: ClientInput.maxNameBytes)
        switch await catalog.check(type: type, method: method) {
        case .known, .unavailable: break
        case .unknownType: throw VerseError(.notFound, "unknown object type \"\(ClientInput.brief(type))\"")
        case .unknownMethod: throw VerseError(.unimplemented, "\(ClientInput.brief(type)) has no method \(ClientInput.brief(method))")
        }
        guard configuration.policy.allowsCall(type: type, method: method) else {
            throw VerseError(.permissionDenied, "clients may not call \(ClientInput.brief(type)).\(ClientInput.brief(method))")
        }
        if session == nil && !configuration.policy.isPublic(type: type, method: method) {
            throw VerseError(.unauthenticated, "\(type).\(method) needs a registered client: \(howToRegister)")
        }
    }

    public var clientCount: Int { sessions.withLockedValue { $0.byID.count } }

    /// Registered clients by how their pushes go: gRPC Register streams, event streams.
    var clientCountsByTransport: (grpc: Int, eventStream: Int) {
        sessions.withLockedValue { sessions in
            let streams = sessions.byID.values.filter { $0.stream.form == .eventStream }.count
            return (sessions.byID.count - streams, streams)
        }
    }

    /// Clients cut off because they stopped reading their pushes.
    public var slowClientsDisconnected: Int { slowClients.withLockedValue { $0 } }
    private let slowClients = NIOLockedValueBox(0)

    /// Every client id this gate issues starts with it.
    var clientIDPrefix: String { configuration.advertiseAddress + "/" }

    private func makeClientID() -> String {
        let number = nextClientNumber.withLockedValue { $0 += 1; return $0 }
        // Unique across gate restarts on the same address (the instance part).
        return clientIDPrefix + "\(String(instance, radix: 36))-\(String(number, radix: 36))"
    }

    // MARK: gate.GateService

    func service() -> GRPCService {
        var service = GRPCService(name: "gate.GateService")
        service.serverStreaming("Register") { [self] (_: Gate_Empty, writer: ResponseWriter<ProtoAny>, context) in
            let identity = try await authenticate(context.requestMetadata, from: context.call.remoteAddress?.ipAddress)
            let limit = configuration.maxRegistrationsPerConnection
            guard sessions.withLockedValue({ $0.byConnection[context.call.connectionID]?.count ?? 0 }) < limit else {
                throw VerseError(.resourceExhausted, "this connection already holds \(limit) registrations")
            }
            // Decided before the first message: the response head names the encoding.
            let compresses = configuration.pushCompression.map { context.call.acceptedEncodings.contains($0) } ?? false
            if compresses { context.call.compressResponses(with: configuration.pushCompression) }
            let session = ClientSession(id: makeClientID(), user: identity.user,
                                        stream: GRPCPushStream(call: context.call, compressed: compresses))
            var registered = Gate_RegisterResponse()
            registered.clientId = session.id
            try await writer.send(ProtoAny(packing: registered))
            register(session)
            // Pushes flow from the event loop (writeOnEventLoop) until the client goes away;
            // no task waits meanwhile, so an idle client costs only its session and stream.
            context.call.keepOpen { [self] call in
                if call.wasCutOff { slowClientCutOff(session.id, unread: call.cutOffBacklog) }
                clientLeft(session.id)
            }
        }
        service.unary("CallObject") { [self] (request: Gate_CallObjectRequest, context) -> Gate_CallObjectResponse in
            let session = try self.session(clientID: request.clientId, context)
            try await authorize(type: request.type, method: request.method, session: session)
            try Self.validate(type: request.type, id: request.id)
            var response = Gate_CallObjectResponse()
            // An absent request is the method's default request message.
            response.response = try await router.call(
                type: request.type, id: request.id, method: request.method, request: request.request ?? ProtoAny(),
                context: CallContext(clientID: session?.id, user: session?.user), timeout: timeout(context))
            return response
        }
        service.unary("CreateObject") { [self] (request: Gate_CreateObjectRequest, context) -> Gate_CreateObjectResponse in
            let session = try connectionSession(context)
            guard configuration.policy.allowsCreate(type: request.type) else {
                throw VerseError(.permissionDenied, "clients may not create \(ClientInput.brief(request.type)) objects")
            }
            try Self.validate(type: request.type, id: request.id)
            try await router.create(type: request.type, id: request.id,
                                    context: CallContext(clientID: session?.id, user: session?.user), timeout: timeout(context))
            var response = Gate_CreateObjectResponse()
            response.id = request.id
            return response
        }
        service.unary("DeleteObject") { [self] (request: Gate_DeleteObjectRequest, context) -> Gate_DeleteObjectResponse in
            let session = try connectionSession(context)
            guard configuration.policy.allowsDelete(type: request.type) else {
                throw VerseError(.permissionDenied, "clients may not delete \(ClientInput.brief(request.type)) objects")
            }
            try Self.validate(type: request.type, id: request.id)
            try await router.delete(type: request.type, id: request.id,
                                    context: CallContext(clientID: session?.id, user: session?.user), timeout: timeout(context))
            return Gate_DeleteObjectResponse()
        }
        return service
    }

    /// The session a call names. Empty: none (only public calls pass). Unknown:
    /// NOT_FOUND. Registered on another connection: PERMISSION_DENIED (no acting as
    /// another session).
    private func session(clientID: String, _ context: ServerContext) throws -> ClientSession? {
        guard !clientID.isEmpty else { return nil }
        try ClientInput.check(clientID, "client id", atMost: ClientInput.maxClientIDBytes)
        guard let session = sessions.withLockedValue({ $0.byID[clientID] }) else {
            throw VerseError(.notFound, "unknown client id \"\(ClientInput.brief(clientID))\": call Register first and use the id it returns")
        }
        guard session.stream.connectionID == context.call.connectionID else {
            throw VerseError(.permissionDenied, "client id \"\(ClientInput.brief(clientID))\" belongs to another connection")
        }
        return session
    }

    /// Create and Delete carry no client id: the connection's registered client, if any.
    private func connectionSession(_ context: ServerContext) throws -> ClientSession? {
        let connection = context.call.connectionID
        let session = sessions.withLockedValue { $0.first(on: connection) }
        if session == nil && configuration.policy.requiresSession {
            throw VerseError(.unauthenticated, "register first: this connection has no authenticated client")
        }
        return session
    }

    static func validate(type: String, id: String) throws {
        guard !type.isEmpty else { throw VerseError(.invalidArgument, "empty object type") }
        try ClientInput.check(type, "object type", atMost: ClientInput.maxNameBytes)
        try ObjectID.validate(id)
    }

    private func timeout(_ context: ServerContext) -> Duration {
        guard let deadline = context.deadline else { return configuration.callTimeout }
        let remaining = Duration.nanoseconds(max(1, (deadline - .now()).nanoseconds))
        return min(remaining, configuration.callTimeout)
    }

    /// Pushes reach `session` from now on.
    func register(_ session: ClientSession) {
        sessions.withLockedValue { $0.insert(session) }
        logger.debug("client registered", metadata: ["client": "\(session.id)", "user": "\(session.user ?? "-")"])
    }

    func clientLeft(_ clientID: String) {
        sessions.withLockedValue { $0.remove(clientID) }
        logger.debug("client left", metadata: ["client": "\(clientID)"])
        departures.clientLeft(clientID)
    }

    // MARK: pushes

    /// Delivers a node's push: encoded once (and compressed once, if any target takes
    /// compressed pushes), written to every target stream with one hop per event loop
    /// (not per client).
    func deliver(_ push: Verse_GatePush, origin: PushOrigin = .arrivedNow()) {
        guard let message = push.message else { return }
        var unknown: [String] = []
        let targets: [ClientSession] = sessions.withLockedValue { sessions in
            if push.broadcast { return Array(sessions.byID.values) }
            var targets: [ClientSession] = []
            targets.reserveCapacity(push.clientIds.count)
            for id in push.clientIds {
                if let session = sessions.byID[id] { targets.append(session) } else { unknown.append(id) }
            }
            return targets
        }
        // A client of this gate that is no longer here (it left while the object that
        // pushes to it was being moved or restarted, so that object never heard): tell
        // the nodes again, so the object drops it.
        for id in unknown where id.hasPrefix(clientIDPrefix) { departures.clientLeft(id) }
        RuntimeMetrics.pushesDelivered.increment(by: Int64(targets.count))
        RuntimeMetrics.pushBytes.increment(by: Int64(targets.count * message.value.count))
        if !unknown.isEmpty { RuntimeMetrics.pushesToAbsentClients.increment(by: Int64(unknown.count)) }
        let shared = PreparedPush(message, for: targets, compression: configuration.pushCompression)
        // Objects usually run on their clients' loop: then everything is written now,
        // with no hop. Otherwise one task per loop (not per client).
        guard let first = targets.first else { return }
        if targets.allSatisfy({ $0.stream.eventLoop.inEventLoop }) {
            write(shared, to: targets, clock: FanOutClock(origin: origin, loops: 1), on: first.stream.eventLoop)
            return
        }
        var byLoop: [ObjectIdentifier: [ClientSession]] = [:]
        for session in targets { byLoop[ObjectIdentifier(session.stream.eventLoop), default: []].append(session) }
        let clock = FanOutClock(origin: origin, loops: byLoop.count)
        for group in byLoop.values {
            let loop = group[0].stream.eventLoop
            if loop.inEventLoop {
                write(shared, to: group, clock: clock, on: loop)
            } else {
                loop.execute { self.write(shared, to: group, clock: clock, on: loop) }
            }
        }
    }

    private func write(_ push: PreparedPush, to sessions: [ClientSession], clock: FanOutClock, on loop: EventLoop) {
        let limit = pushBacklogLimit // once: converting the grace Duration costs ~200 instructions
        for session in sessions { session.stream.write(push, limit: limit) }
        clock.wrote(on: loop)
    }

    /// What a client may leave unread before it is cut off.
    var pushBacklogLimit: ServerCall.BacklogLimit {
        ServerCall.BacklogLimit(bytes: configuration.maxQueuedPushBytes, grace: TimeAmount(configuration.slowClientGrace))
    }

    /// Counts and logs a client cut off for not reading its pushes (by its stream's
    /// limit, or its connection's or the process's budget): `unread`, the bytes it left.
    func slowClientCutOff(_ clientID: String, unread: Int? = nil) {
        slowClients.withLockedValue { $0 += 1 }
        RuntimeMetrics.clientsCutOff.increment()
        var metadata: Logger.Metadata = ["client": "\(clientID)", "stream-limit-bytes": "\(configuration.maxQueuedPushBytes)"]
        if let unread { metadata["unread-bytes"] = "\(unread)" }
        logger.warning("disconnected a client that stopped reading its pushes", metadata: metadata)
    }
}

/// `GateSink` for the gate in this process (embedded mode): no network hop.
struct LocalGateSink: GateSink {
    let gate: Gate
    func deliver(_ push: Verse_GatePush, origin: PushOrigin) -> Bool {
        gate.deliver(push, origin: origin)
        return true
    }
}
