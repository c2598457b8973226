/// A gRPC status: the outcome of a call, carried in `grpc-status`/`grpc-message`.
/// Thrown by handlers to fail a call, and by clients when a call did not succeed.
public struct GRPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Int, Sendable, CaseIterable, CustomStringConvertible {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case alreadyExists = 6
        case permissionDenied = 7
        case resourceExhausted = 8
        case failedPrecondition = 9
        case aborted = 10
        case outOfRange = 11
        case unimplemented = 12
        case `internal` = 13
        case unavailable = 14
        case dataLoss = 15
        case unauthenticated = 16

        public var description: String {
            switch self {
            case .ok: "OK"
            case .cancelled: "CANCELLED"
            case .unknown: "UNKNOWN"
            case .invalidArgument: "INVALID_ARGUMENT"
            case .deadlineExceeded: "DEADLINE_EXCEEDED"
            case .notFound: "NOT_FOUND"
            case .alreadyExists: "ALREADY_EXISTS"
            case .permissionDenied: "PERMISSION_DENIED"
            case .resourceExhausted: "RESOURCE_EXHAUSTED"
            case .failedPrecondition: "FAILED_PRECONDITION"
            case .aborted: "ABORTED"
            case .outOfRange: "OUT_OF_RANGE"
            case .unimplemented: "UNIMPLEMENTED"
            case .internal: "INTERNAL"
            case .unavailable: "UNAVAILABLE"
            case .dataLoss: "DATA_LOSS"
            case .unauthenticated: "UNAUTHENTICATED"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    public static let ok = GRPCStatus(.ok)

    public var isOK: Bool { code == .ok }

    public var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    /// `grpc-status` values outside 0...16 are UNKNOWN (gRPC spec).
    public init(wireCode: String?, wireMessage: String?) {
        let code = wireCode.flatMap(Int.init).flatMap(Code.init(rawValue:)) ?? .unknown
        let message = wireMessage.map(GRPCStatus.percentDecode) ?? ""
        if wireCode == nil {
            self.init(.internal, "response ended without grpc-status" + (message.isEmpty ? "" : " (\(message))"))
        } else if Code(rawValue: Int(wireCode!) ?? -1) == nil {
            self.init(.unknown, "invalid grpc-status \"\(wireCode!)\"" + (message.isEmpty ? "" : ": \(message)"))
        } else {
            self.init(code, message)
        }
    }

    /// The status a client reports for a non-200 HTTP response with no grpc-status
    /// (gRPC's "HTTP to gRPC status code mapping").
    public static func fromHTTPStatus(_ status: Int) -> GRPCStatus {
        let code: Code
        switch status {
        case 400: code = .internal
        case 401: code = .unauthenticated
        case 403: code = .permissionDenied
        case 404: code = .unimplemented
        case 429, 502, 503, 504: code = .unavailable
        default: code = .unknown
        }
        return GRPCStatus(code, "HTTP status \(status)")
    }

    /// The status for a stream reset by RST_STREAM/GOAWAY with this HTTP/2 code.
    static func fromResetCode(_ code: UInt32) -> GRPCStatus {
        switch HTTP2ErrorCode(rawValue: code) {
        case .noError?: GRPCStatus(.internal, "stream ended without a status (RST_STREAM NO_ERROR)")
        case .refusedStream?: GRPCStatus(.unavailable, "stream refused by the server")
        case .cancel?: GRPCStatus(.cancelled, "stream cancelled by the peer")
        case .enhanceYourCalm?: GRPCStatus(.resourceExhausted, "peer asked to slow down (ENHANCE_YOUR_CALM)")
        case .inadequateSecurity?: GRPCStatus(.permissionDenied, "peer requires stronger TLS")
        default: GRPCStatus(.internal, "stream reset by the peer (HTTP/2 error \(code))")
        }
    }

    // MARK: grpc-message percent-encoding (gRPC spec: printable ASCII except '%' kept)

    public static func percentEncode(_ message: String) -> String {
        var out = ""
        out.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7e && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%"
                out += hexDigit(byte >> 4)
                out += hexDigit(byte & 0xf)
            }
        }
        return out
    }

    /// Decodes %XX sequences; malformed ones are kept as they are (spec: never fail).
    public static func percentDecode(_ encoded: String) -> String {
        let bytes = Array(encoded.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexDigit(_ nibble: UInt8) -> String {
        String(UnicodeScalar(nibble < 10 ? nibble + 48 : nibble + 55))
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - 55
        default: nil
        }
    }
}

/// An error that knows the gRPC status it stands for. A handler that throws one ends
/// its call with that status, so a layer above keeps its own error type and says once
/// how it maps to gRPC.
public protocol GRPCStatusConvertible: Error {
    var grpcStatus: GRPCStatus { get }
}

extension GRPCStatus: GRPCStatusConvertible {
    public var grpcStatus: GRPCStatus { self }
}
