import NIOCore
import VerseCodec

/// A gRPC service: its full name and a handler per method.
///
/// ```swift
/// var service = GRPCService(name: "grpc.testing.TestService")
/// service.unary("EmptyCall") { (_: Grpc_Testing_Empty, _) in Grpc_Testing_Empty() }
/// ```
public struct GRPCService: Sendable {
    /// How a method consumes its request side.
    public enum Handler: Sendable {
        /// Exactly one request message (unary, server streaming). The handler starts
        /// once that message and the client's half-close have arrived, and gets the
        /// message's bytes directly: no per-message hand-off to the handler task.
        case singleRequest(@Sendable (ByteBuffer, ServerCall) async throws -> Void)
        /// Any number of request messages, read through `ServerCall.nextRequest()`.
        case requestStream(@Sendable (ServerCall) async throws -> Void)
    }

    public let name: String
    private(set) var handlers: [String: Handler] = [:]

    public init(name: String) {
        self.name = name
    }

    public var methodNames: [String] { handlers.keys.sorted() }

    /// The same service with `check` run before each of its handlers: a status it throws
    /// ends the call before the handler starts (service-wide authentication).
    public func guarded(by check: @escaping @Sendable (ServerCall) throws -> Void) -> GRPCService {
        var guarded = self
        guarded.handlers = handlers.mapValues { handler in
            switch handler {
            case .singleRequest(let body):
                .singleRequest { bytes, call in
                    try check(call)
                    try await body(bytes, call)
                }
            case .requestStream(let body):
                .requestStream { call in
                    try check(call)
                    try await body(call)
                }
            }
        }
        return guarded
    }

    /// A handler working on raw message bytes; the typed helpers below build on it.
    public mutating func raw(_ method: String, _ handler: Handler) {
        handlers[method] = handler
    }

    @inlinable
    public mutating func unary<Request: WireMessage, Response: WireMessage>(
        _ method: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        raw(method, .singleRequest { bytes, call in
            let request = try decodeMessage(Request.self, from: bytes, role: "request")
            let response = try await handler(request, ServerContext(call: call))
            try await sendFinal(response, call)
        })
    }

    @inlinable
    public mutating func serverStreaming<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (Request, ResponseWriter<Response>, ServerContext) async throws -> Void
    ) {
        raw(method, .singleRequest { bytes, call in
            let request = try decodeMessage(Request.self, from: bytes, role: "request")
            try await handler(request, ResponseWriter(call: call), ServerContext(call: call))
        })
    }

    @inlinable
    public mutating func clientStreaming<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (RequestStream<Request>, ServerContext) async throws -> Response
    ) {
        raw(method, .requestStream { call in
            let response = try await handler(RequestStream(call: call), ServerContext(call: call))
            try await sendFinal(response, call)
        })
    }

    @inlinable
    public mutating func bidirectionalStreaming<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ handler: @escaping @Sendable (RequestStream<Request>, ResponseWriter<Response>, ServerContext) async throws -> Void
    ) {
        raw(method, .requestStream { call in
            try await handler(RequestStream(call: call), ResponseWriter(call: call), ServerContext(call: call))
        })
    }
}

/// A handler's only response message: queued right away on the event loop, sent with
/// back-pressure elsewhere.
@inlinable @inline(__always)
func sendFinal<Response: WireMessage>(_ response: Response, _ call: ServerCall) async throws {
    let framed = MessageFramer.frame(response.wireEncoding(), allocator: call.allocator, compression: call.responseEncoding)
    if try !call.queueFinalMessage(framed) { try await call.send(framed: framed) }
}

/// A method the router knows: its path, handler and metrics. One per method, shared by
/// every connection (each keeps a reference to the last one it used, to match the next
/// request's path against without making a String).
final class GRPCRoute: Sendable {
    let path: String
    private let pathBytes: [UInt8]
    let handler: GRPCService.Handler
    let metrics: GRPCCallMetrics

    init(path: String, handler: GRPCService.Handler, metrics: GRPCCallMetrics) {
        self.path = path
        self.pathBytes = Array(path.utf8)
        self.handler = handler
        self.metrics = metrics
    }

    func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        pathBytes.withUnsafeBytes { $0.sameBytes(as: bytes) }
    }
}

/// Finds the handler for a request path.
struct GRPCRouter: Sendable {
    /// Full path (`/package.Service/Method`) -> route: one hash lookup per call.
    private var routes: [String: GRPCRoute] = [:]
    private var serviceNames: Set<String> = []

    init(_ services: [GRPCService]) {
        for service in services {
            serviceNames.insert(service.name)
            for (method, handler) in service.handlers {
                let path = "/\(service.name)/\(method)"
                routes[path] = GRPCRoute(path: path, handler: handler,
                                         metrics: GRPCCallMetrics(service: service.name, method: method))
            }
        }
    }

    enum Lookup {
        case found(GRPCRoute)
        case unknownService(String)
        case unknownMethod(String, service: String)
        case malformedPath(String)
    }

    func lookup(_ path: String) -> Lookup {
        if let route = routes[path] { return .found(route) }
        // Only failures pay for parsing the path, to say precisely what is unknown.
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            return .malformedPath(path)
        }
        let service = String(parts[1])
        guard serviceNames.contains(service) else { return .unknownService(service) }
        return .unknownMethod(String(parts[2]), service: service)
    }
}
