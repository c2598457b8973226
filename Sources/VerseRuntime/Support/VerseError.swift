import VerseGRPC

/// The runtime's error: what went wrong with a call to an object, in the canonical
/// codes every RPC system shares (google.rpc.Code, the numbers gRPC uses), and a short
/// message for a person. Objects, nodes and gates throw it; the services at the edges
/// (the gate's and the node's) turn it into a gRPC status through
/// `GRPCStatusConvertible`, and a status from another node comes back as one.
public struct VerseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Int, Sendable {
        case cancelled = 1, unknown, invalidArgument, deadlineExceeded, notFound, alreadyExists, permissionDenied,
             resourceExhausted, failedPrecondition, aborted, outOfRange, unimplemented, `internal`, unavailable,
             dataLoss, unauthenticated
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension VerseError: GRPCStatusConvertible {
    public var grpcStatus: GRPCStatus {
        GRPCStatus(GRPCStatus.Code(rawValue: code.rawValue) ?? .unknown, message)
    }

    /// The error another node answered with (an OK status is not an error: unknown).
    init(_ status: GRPCStatus) {
        self.init(Code(rawValue: status.code.rawValue) ?? .unknown, status.message)
    }
}

/// A process was configured in a way it cannot run with.
public struct ClusterConfigurationError: Error, CustomStringConvertible {
    public var description: String
}
