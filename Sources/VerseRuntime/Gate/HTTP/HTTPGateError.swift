import NIOHTTP1
import VerseGRPC

/// An HTTP gate answer that is an error: its status and the body
/// `{"error": "<message>", "code": "<CODE>"}`.
struct HTTPGateError: Error, Equatable, Sendable {
    var status: HTTPResponseStatus
    var code: String
    var message: String

    init(_ status: HTTPResponseStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func methodNotAllowed(_ allowed: String) -> HTTPGateError {
        HTTPGateError(.methodNotAllowed, "METHOD_NOT_ALLOWED", "only \(allowed) is allowed here")
    }

    var body: String { JSONText.object(["error": message, "code": code]) }

    /// What the gate's routing and the objects throw, as HTTP: the gRPC status that
    /// fits, named by its code.
    init(_ error: Error) {
        let status = (error as? GRPCStatusConvertible)?.grpcStatus ?? GRPCStatus(.internal, "\(error)")
        self.init(Self.httpStatus(of: status.code), status.code.description, status.message.isEmpty ? "\(status.code)" : status.message)
    }

    static func httpStatus(of code: GRPCStatus.Code) -> HTTPResponseStatus {
        switch code {
        case .invalidArgument, .outOfRange: .badRequest
        case .unauthenticated: .unauthorized
        case .permissionDenied: .forbidden
        case .notFound, .unimplemented: .notFound
        case .alreadyExists, .aborted, .failedPrecondition: .conflict
        case .resourceExhausted: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        case .cancelled: HTTPResponseStatus(statusCode: 499, reasonPhrase: "Client Closed Request")
        default: .internalServerError
        }
    }
}
