import VerseGRPC
import VerseProtobuf

/// A client of `gate.GateService` (DESIGN.md's client protocol): one registration —
/// the Register stream that gives the client id and then carries pushes — and calls
/// made with that id. Used by the chat CLI, chat-bench and the tests.
public final class GateClient: Sendable {
    public let grpc: GRPCClient
    public let clientID: String
    /// The Register stream; after the first message every response is a push.
    public let registration: StreamingCall<Gate_Empty, ProtoAny>

    private init(grpc: GRPCClient, clientID: String, registration: StreamingCall<Gate_Empty, ProtoAny>) {
        self.grpc = grpc
        self.clientID = clientID
        self.registration = registration
    }

    /// Registers on `grpc`'s connection with `metadata` (credentials) and waits for
    /// the client id. Throws the gate's status (e.g. UNAUTHENTICATED).
    public static func register(_ grpc: GRPCClient, metadata: Metadata = Metadata()) async throws -> GateClient {
        let registration: StreamingCall<Gate_Empty, ProtoAny> =
            try await grpc.serverStreaming("/gate.GateService/Register", request: Gate_Empty(), metadata: metadata)
        guard let first = try await registration.call.nextResponse() else {
            throw GRPCStatus(.unavailable, "the gate ended Register before sending a client id")
        }
        let any = try first.withUnsafeReadableBytes { try ProtoAny(serializedBytes: $0) }
        let clientID = try any.unpack(Gate_RegisterResponse.self).clientId
        return GateClient(grpc: grpc, clientID: clientID, registration: registration)
    }

    /// `x-username` / `x-password` metadata, as the chat service expects them.
    public static func credentials(user: String?, password: String?) -> Metadata {
        var metadata = Metadata()
        if let user { metadata.add("x-username", user) }
        if let password { metadata.add("x-password", password) }
        return metadata
    }

    /// Calls `method` on object (`type`, `id`). `clientID` overrides this client's id
    /// (tests use it to try ids that are not theirs).
    public func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request, as: Response.Type = Response.self,
        clientID: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> Response {
        var message = Gate_CallObjectRequest()
        message.clientId = clientID ?? self.clientID
        message.type = type
        message.id = id
        message.method = method
        message.request = ProtoAny(packing: request)
        let response: Gate_CallObjectResponse = try await grpc.unary("/gate.GateService/CallObject", request: message, timeout: timeout)
        do {
            return try (response.response ?? ProtoAny()).unpack(Response.self)
        } catch {
            throw GRPCStatus(.internal, "\(type).\(method) answered \(response.response?.typeUrl ?? "nothing"), expected \(Response.protoMessageName)")
        }
    }

    /// Ends the registration (the gate drops the session).
    public func close() {
        registration.cancel()
    }
}
