import FoundationEssentials
import VerseGRPC
import VerseProtobuf

/// The gate's HTTP API (Goverse's): the same routing, allow-list, validation and push
/// delivery as its gRPC face, for clients that cannot speak gRPC (browsers).
///
/// An event stream is opened without credentials (a browser's EventSource cannot send
/// headers), so its client id is unguessable (128 random bits) and is bound to the
/// first identity that authenticates a call with it; any other identity is refused.
extension Gate {
    /// Credentials: `X-Goverse-Auth: {"x-username": "...", "x-password": "..."}`.
    static let authHeader = "X-Goverse-Auth"
    /// The event stream a call acts for (its pushes go there).
    static let clientIDHeader = "X-Client-ID"
    static let howToRegister = "open \(HTTPRoute.apiPrefix)events/stream and pass the client id it sends in \(clientIDHeader)"

    /// A client id for an event stream: the gate's prefix and 128 random bits.
    func makeUnguessableClientID() -> String {
        var generator = SystemRandomNumberGenerator() // the kernel's CSPRNG (getrandom)
        let bits = (0..<2).map { _ in generator.next() as UInt64 }
        return clientIDPrefix + "e-" + bits.map { String($0, radix: 16).leftPadded(to: 16) }.joined()
    }

    /// The identity `X-Goverse-Auth` carries, checked by the gate's authenticator.
    /// No header: the authenticator sees no credentials (an open gate lets it pass).
    func authenticate(httpAuth header: String?, from peer: String?) async throws -> Identity {
        var metadata = Metadata()
        if let header {
            guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(header.utf8)) else {
                throw VerseError(.unauthenticated, "\(Self.authHeader) must be a JSON object of strings, such as {\"x-username\": \"alice\", \"x-password\": \"...\"}")
            }
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) { metadata.add(key, value) }
        }
        return try await authenticate(metadata, from: peer)
    }

    /// The event-stream session an HTTP call names, bound to the caller's identity.
    /// No id: none. Unknown: NOT_FOUND. A gRPC client's id, or one bound to someone
    /// else: PERMISSION_DENIED.
    func httpSession(clientID: String?, auth: String?, peer: String?) async throws -> ClientSession? {
        guard let clientID, !clientID.isEmpty else { return nil }
        let identity = try await authenticate(httpAuth: auth, from: peer)
        guard let session = sessions.withLockedValue({ $0.byID[clientID] }) else {
            throw VerseError(.notFound, "unknown client id \"\(clientID)\": open \(HTTPRoute.apiPrefix)events/stream and use the id it sends")
        }
        guard session.stream.form == .eventStream, session.bind(to: identity.user) else {
            throw VerseError(.permissionDenied, "client id \"\(clientID)\" belongs to someone else")
        }
        return session
    }

    func httpCall(type: String, id: String, method: String, request: ProtoAny, clientID: String?, auth: String?,
                  peer: String?) async throws -> ProtoAny {
        let session = try await httpSession(clientID: clientID, auth: auth, peer: peer)
        try await authorize(type: type, method: method, session: session, howToRegister: Self.howToRegister)
        try Self.validate(type: type, id: id)
        return try await router.call(type: type, id: id, method: method, request: request,
                                     context: CallContext(clientID: session?.id, user: session?.user),
                                     timeout: configuration.callTimeout)
    }

    enum LifecycleAction: String, Sendable { case create, delete }

    /// Creates or deletes an object, as the gRPC CreateObject and DeleteObject do.
    func httpLifecycle(_ action: LifecycleAction, type: String, id: String, clientID: String?, auth: String?,
                       peer: String?) async throws {
        let session = try await httpLifecycleSession(clientID: clientID, auth: auth, peer: peer)
        let policy = configuration.policy
        guard action == .create ? policy.allowsCreate(type: type) : policy.allowsDelete(type: type) else {
            throw VerseError(.permissionDenied, "clients may not \(action.rawValue) \(ClientInput.brief(type)) objects")
        }
        try Self.validate(type: type, id: id)
        let context = CallContext(clientID: session?.id, user: session?.user)
        switch action {
        case .create: try await router.create(type: type, id: id, context: context, timeout: configuration.callTimeout)
        case .delete: try await router.delete(type: type, id: id, context: context, timeout: configuration.callTimeout)
        }
    }

    private func httpLifecycleSession(clientID: String?, auth: String?, peer: String?) async throws -> ClientSession? {
        let session = try await httpSession(clientID: clientID, auth: auth, peer: peer)
        if session == nil && configuration.policy.requiresSession {
            throw VerseError(.unauthenticated, "this needs a registered client: \(Self.howToRegister)")
        }
        return session
    }

    /// Opens an event stream's session: pushes go to `stream` until `eventStreamEnded`.
    /// With credentials (a client that can send headers), bound to them at once.
    func openEventStream(_ stream: EventStream, auth: String?, peer: String?) async throws -> ClientSession {
        var user: String?
        if let auth { user = try await authenticate(httpAuth: auth, from: peer).user }
        let session = ClientSession(id: makeUnguessableClientID(), user: user, stream: stream)
        register(session)
        return session
    }

    func eventStreamEnded(_ session: ClientSession, cutOff: Bool) {
        if cutOff { slowClientCutOff(session.id) }
        clientLeft(session.id)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
