import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import VerseProtobuf

/// One request's answer as the gate's HTTP API gives it, over HTTP/1.1 or HTTP/2.
/// Every method is called on `eventLoop`.
protocol HTTPGateExchange: AnyObject {
    var eventLoop: EventLoop { get }
    /// Still waiting for its answer (not answered yet, the peer still there).
    var isAwaitingAnswer: Bool { get }
    func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?)
    /// Answers with a streamed body: the event stream's sink, nil if the peer left.
    func startEventStream(headers: HTTPHeaders) -> (any EventStreamSink)?
    /// The peer's IP address (failed logins are throttled by it).
    var peerAddress: String? { get }
}

/// The gate's HTTP API and web files: what each request gets, whatever it came over.
struct HTTPGateResponder: Sendable {
    /// nil on a node without a gate: it serves only the operator endpoints.
    let gate: Gate?
    let health: ProcessHealth
    /// The cluster page's data, as JSON.
    let clusterReport: @Sendable () async -> String
    let configuration: HTTPGateConfiguration
    let files: WebFiles
    let logger: Logger

    /// The request in full (its body already read, `bodyTooLarge` if it passed the limit).
    func answer(_ request: HTTPRequestHead, body: ByteBuffer, bodyTooLarge: Bool, on exchange: any HTTPGateExchange) {
        if bodyTooLarge {
            return respond(request, error: HTTPGateError(.payloadTooLarge, "BODY_TOO_LARGE",
                                                         "the request body is over \(configuration.maxBodyBytes) bytes"), on: exchange)
        }
        let route: HTTPRoute
        do {
            route = try HTTPRoute.parse(method: request.method, uri: request.uri)
        } catch {
            return respond(request, error: error, on: exchange)
        }
        switch route {
        case .call, .create, .delete, .events, .file:
            guard let gate else {
                return respond(request, error: HTTPGateError(.notFound, "NOT_FOUND", "this node serves no clients: use a gate"), on: exchange)
            }
            answerClient(request, route: route, body: body, gate: gate, on: exchange)
        case .healthz:
            respond(request, status: .ok, body: ("application/json", ByteBuffer(string: #"{"status":"ok"}"#)), on: exchange)
        case .ready:
            switch health.readiness {
            case .ready:
                respond(request, status: .ok, body: ("application/json", ByteBuffer(string: #"{"status":"ready"}"#)), on: exchange)
            case .notReady(let reason):
                respond(request, error: HTTPGateError(.serviceUnavailable, "NOT_READY", reason), on: exchange)
            }
        case .clusterReport:
            let report = clusterReport
            later(exchange, { await report() }) { exchange, outcome in
                let json = (try? outcome.get()) ?? "{}"
                respond(request, status: .ok, body: ("application/json", ByteBuffer(string: json)), extraHeaders: [("Cache-Control", "no-store")],
                        on: exchange)
            }
        case .clusterPage(let name):
            guard let file = ClusterPageFiles.shared[name] else {
                return respond(request, error: HTTPGateError(.notFound, "NOT_FOUND", "no page at \(request.uri)"), on: exchange)
            }
            respond(request, status: .ok, body: (file.contentType, file.bytes), extraHeaders: Self.pageHeaders, on: exchange)
        case .metrics:
            guard let metrics = configuration.metrics else {
                return respond(request, error: HTTPGateError(.notFound, "NOT_FOUND", "no metrics here"), on: exchange)
            }
            respond(request, status: .ok, body: ("text/plain; version=0.0.4; charset=utf-8", ByteBuffer(bytes: metrics.text())), on: exchange)
        case .preflight:
            respond(request, status: .noContent, body: nil, on: exchange)
        }
    }

    /// What only a gate answers: its clients' calls, event streams and web files.
    private func answerClient(_ request: HTTPRequestHead, route: HTTPRoute, body: ByteBuffer, gate: Gate,
                              on exchange: any HTTPGateExchange) {
        switch route {
        case .file(let name):
            guard let file = files[name] else {
                return respond(request, error: HTTPGateError(.notFound, "NOT_FOUND", "no page at \(request.uri)"), on: exchange)
            }
            respond(request, status: .ok, body: (file.contentType, file.bytes), extraHeaders: Self.pageHeaders, on: exchange)
        case .events:
            openEventStream(request, gate: gate, on: exchange)
        default: // .call, .create, .delete
            let headers = request.headers
            let peer = exchange.peerAddress
            later(exchange, { try await Self.run(route, body: body, headers: headers, peer: peer, gate: gate) }) { exchange, outcome in
                switch outcome {
                case .success(let json):
                    respond(request, status: .ok, body: ("application/json", ByteBuffer(string: json)), on: exchange)
                case .failure(let error):
                    respond(request, error: error, on: exchange)
                }
            }
        }
    }

    /// Runs `work` off the event loop, then `then` back on it with its outcome.
    private func later<T: Sendable>(_ exchange: any HTTPGateExchange, _ work: @escaping @Sendable () async throws -> T,
                                    then: @escaping (any HTTPGateExchange, Result<T, Error>) -> Void) {
        let bound = NIOLoopBound((exchange, then), eventLoop: exchange.eventLoop)
        Task {
            let outcome: Result<T, Error>
            do {
                outcome = .success(try await work())
            } catch {
                outcome = .failure(error)
            }
            bound.eventLoop.execute {
                let (exchange, then) = bound.value
                then(exchange, outcome)
            }
        }
    }

    /// An API call's JSON answer.
    private static func run(_ route: HTTPRoute, body: ByteBuffer, headers: HTTPHeaders, peer: String?, gate: Gate) async throws -> String {
        let clientID = headers.first(name: Gate.clientIDHeader)
        let auth = headers.first(name: Gate.authHeader)
        switch route {
        case .call(let type, let id, let method):
            let request = try decodeRequest(body)
            let response = try await gate.httpCall(type: type, id: id, method: method, request: request, clientID: clientID, auth: auth,
                                                  peer: peer)
            return JSONText.object(["response": Data(response.serializedBytes()).base64EncodedString()])
        case .create(let type, let id):
            try await gate.httpLifecycle(.create, type: type, id: id, clientID: clientID, auth: auth, peer: peer)
            return JSONText.object(["id": id])
        case .delete(let type, let id):
            try await gate.httpLifecycle(.delete, type: type, id: id, clientID: clientID, auth: auth, peer: peer)
            return #"{"success":true}"#
        default:
            throw HTTPGateError(.internalServerError, "INTERNAL", "not an API call")
        }
    }

    private struct CallBody: Decodable {
        var request: String?
    }

    /// `{"request": "<base64 of a serialized Any>"}`; no request (or an empty one) is the
    /// method's default request, as an absent Any is on the gRPC side.
    static func decodeRequest(_ body: ByteBuffer) throws -> ProtoAny {
        let call: CallBody
        do {
            call = try JSONDecoder().decode(CallBody.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPGateError(.badRequest, "INVALID_JSON", "the body must be a JSON object {\"request\": \"<base64 Any>\"}")
        }
        guard let encoded = call.request, !encoded.isEmpty else { return ProtoAny() }
        guard let bytes = Data(base64Encoded: encoded) else {
            throw HTTPGateError(.badRequest, "INVALID_BASE64", "\"request\" is not valid base64")
        }
        do {
            return try ProtoAny(serializedBytes: Array(bytes))
        } catch {
            throw HTTPGateError(.badRequest, "INVALID_PROTOBUF", "\"request\" is not a serialized google.protobuf.Any")
        }
    }

    private func openEventStream(_ request: HTTPRequestHead, gate: Gate, on exchange: any HTTPGateExchange) {
        let stream = EventStream(eventLoop: exchange.eventLoop)
        let auth = request.headers.first(name: Gate.authHeader)
        let peer = exchange.peerAddress
        later(exchange, { try await gate.openEventStream(stream, auth: auth, peer: peer) }) { exchange, opened in
            switch opened {
            case .failure(let error):
                respond(request, error: error, on: exchange)
            case .success(let session):
                var headers = corsHeaders(request)
                headers.add(name: "Content-Type", value: "text/event-stream")
                headers.add(name: "Cache-Control", value: "no-cache")
                headers.add(name: "X-Accel-Buffering", value: "no") // proxies: do not hold events back
                guard let sink = exchange.isAwaitingAnswer ? exchange.startEventStream(headers: headers) : nil else {
                    return gate.eventStreamEnded(session, cutOff: false) // the peer left meanwhile
                }
                stream.start(sink, clientID: session.id, heartbeat: TimeAmount(configuration.heartbeatInterval),
                             limit: gate.pushBacklogLimit) { cutOff in
                    gate.eventStreamEnded(session, cutOff: cutOff)
                }
            }
        }
    }

    /// The page may load only its own scripts and styles and talk only to this gate.
    static let pageHeaders = [
        ("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-cache"),
    ]

    private func corsHeaders(_ request: HTTPRequestHead) -> HTTPHeaders {
        var headers = HTTPHeaders()
        guard request.uri.hasPrefix(HTTPRoute.apiPrefix) else { return headers }
        if let allowed = configuration.allowedOrigins {
            headers.add(name: "Vary", value: "Origin")
            guard let origin = request.headers.first(name: "Origin"), allowed.contains(origin) else { return headers }
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
        } else {
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
        }
        headers.add(name: "Access-Control-Allow-Methods", value: "GET, POST, OPTIONS")
        headers.add(name: "Access-Control-Allow-Headers", value: "Content-Type, \(Gate.clientIDHeader), \(Gate.authHeader)")
        headers.add(name: "Access-Control-Max-Age", value: "86400")
        return headers
    }

    private func respond(_ request: HTTPRequestHead, error: Error, on exchange: any HTTPGateExchange) {
        let failure = error as? HTTPGateError ?? HTTPGateError(error)
        if failure.status.code >= 500 {
            logger.debug("HTTP request failed", metadata: ["uri": "\(request.uri)", "status": "\(failure.status.code)", "error": "\(failure.message)"])
        }
        var headers: [(String, String)] = []
        if failure.status == .methodNotAllowed { headers.append(("Allow", failure.message.contains("GET") ? "GET" : "POST")) }
        respond(request, status: failure.status, body: ("application/json", ByteBuffer(string: failure.body)), extraHeaders: headers,
                on: exchange)
    }

    private func respond(_ request: HTTPRequestHead, status: HTTPResponseStatus, body: (type: String, bytes: ByteBuffer)?,
                         extraHeaders: [(String, String)] = [], on exchange: any HTTPGateExchange) {
        guard exchange.isAwaitingAnswer else { return } // the peer went away meanwhile
        var headers = corsHeaders(request)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if let body { headers.add(name: "Content-Type", value: body.type) }
        headers.add(name: "Content-Length", value: "\(body?.bytes.readableBytes ?? 0)")
        exchange.respond(status: status, headers: headers, body: request.method == .HEAD ? nil : body?.bytes)
    }
}
