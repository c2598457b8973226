import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import VerseProtobuf

/// One HTTP/1.1 connection to the gate: reads a request (its body bounded), answers
/// it through the gate's HTTP API, or turns the connection into an event stream.
final class HTTPGateHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    // @unchecked: NIO calls it on its channel's event loop only; tasks hop back there.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Where the connection is in its current request.
    private enum State {
        case idle
        case receiving(HTTPRequestHead, body: ByteBuffer)
        /// The body passed the limit: the rest is read and dropped, then 413.
        case discarding(HTTPRequestHead)
        /// The answer is being worked out (a call in flight).
        case answering
        case streaming(EventStream, ClientSession)
        /// The peer went away.
        case closed
    }

    private let gate: Gate
    private let configuration: HTTPGateConfiguration
    private let files: WebFiles
    private let logger: Logger
    private var state = State.idle

    init(gate: Gate, configuration: HTTPGateConfiguration, files: WebFiles, logger: Logger) {
        self.gate = gate
        self.configuration = configuration
        self.files = files
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let head, var body)):
            if body.readableBytes + chunk.readableBytes > configuration.maxBodyBytes {
                state = .discarding(head)
            } else {
                body.writeBuffer(&chunk)
                state = .receiving(head, body: body)
            }
        case (.end, .receiving(let head, let body)):
            state = .answering
            answer(head, body: body, context: context)
        case (.end, .discarding(let head)):
            state = .answering
            respond(head, error: HTTPGateError(.payloadTooLarge, "BODY_TOO_LARGE",
                                               "the request body is over \(configuration.maxBodyBytes) bytes"), context: context)
        default:
            break // a discarded body's chunks; anything after a stream began
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming(let stream, let session) = state {
            stream.end()
            gate.eventStreamEnded(session, cutOff: stream.wasCutOff)
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: answers

    private func answer(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let route: HTTPRoute
        do {
            route = try HTTPRoute.parse(method: head.method, uri: head.uri)
        } catch {
            return respond(head, error: error, context: context)
        }
        switch route {
        case .preflight:
            respond(head, status: .noContent, body: nil, context: context)
        case .file(let name):
            guard let file = files[name] else {
                return respond(head, error: HTTPGateError(.notFound, "NOT_FOUND", "no page at \(head.uri)"), context: context)
            }
            respond(head, status: .ok, body: (file.contentType, file.bytes), extraHeaders: Self.pageHeaders, context: context)
        case .events:
            openEventStream(head, context: context)
        case .call, .create, .delete:
            let (gate, headers) = (gate, head.headers)
            later(context, { try await Self.run(route, body: body, headers: headers, gate: gate) }) { handler, context, outcome in
                switch outcome {
                case .success(let json):
                    handler.respond(head, status: .ok, body: ("application/json", ByteBuffer(string: json)), context: context)
                case .failure(let error):
                    handler.respond(head, error: error, context: context)
                }
            }
        }
    }

    /// Runs `work` off the event loop, then `then` back on it with its outcome.
    private func later<T: Sendable>(_ context: ChannelHandlerContext, _ work: @escaping @Sendable () async throws -> T,
                                    then: @escaping (HTTPGateHandler, ChannelHandlerContext, Result<T, Error>) -> Void) {
        let loopBound = NIOLoopBound((self, context, then), eventLoop: context.eventLoop)
        Task {
            let outcome: Result<T, Error>
            do {
                outcome = .success(try await work())
            } catch {
                outcome = .failure(error)
            }
            loopBound.eventLoop.execute {
                let (handler, context, then) = loopBound.value
                then(handler, context, outcome)
            }
        }
    }

    /// An API call's JSON answer.
    private static func run(_ route: HTTPRoute, body: ByteBuffer, headers: HTTPHeaders, gate: Gate) async throws -> String {
        let clientID = headers.first(name: Gate.clientIDHeader)
        let auth = headers.first(name: Gate.authHeader)
        switch route {
        case .call(let type, let id, let method):
            let request = try decodeRequest(body)
            let response = try await gate.httpCall(type: type, id: id, method: method, request: request, clientID: clientID, auth: auth)
            return JSONText.object(["response": Data(response.serializedBytes()).base64EncodedString()])
        case .create(let type, let id):
            try await gate.httpLifecycle(.create, type: type, id: id, clientID: clientID, auth: auth)
            return JSONText.object(["id": id])
        case .delete(let type, let id):
            try await gate.httpLifecycle(.delete, type: type, id: id, clientID: clientID, auth: auth)
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

    private func openEventStream(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let stream = EventStream(channel: context.channel)
        let (gate, auth) = (gate, head.headers.first(name: Gate.authHeader))
        later(context, { try await gate.openEventStream(stream, auth: auth) }) { handler, context, opened in
            switch opened {
            case .failure(let error):
                handler.respond(head, error: error, context: context)
            case .success(let session):
                guard case .answering = handler.state else { // the peer left meanwhile
                    return gate.eventStreamEnded(session, cutOff: false)
                }
                handler.state = .streaming(stream, session)
                var headers = handler.corsHeaders(head)
                headers.add(name: "Content-Type", value: "text/event-stream")
                headers.add(name: "Cache-Control", value: "no-cache")
                headers.add(name: "X-Accel-Buffering", value: "no") // proxies: do not hold events back
                stream.start(head: HTTPResponseHead(version: head.version, status: .ok, headers: headers), clientID: session.id,
                             heartbeat: TimeAmount(handler.configuration.heartbeatInterval), limit: gate.pushBacklogLimit)
            }
        }
    }

    // MARK: writing

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

    private func respond(_ request: HTTPRequestHead, error: Error, context: ChannelHandlerContext) {
        let failure = error as? HTTPGateError ?? HTTPGateError(error)
        if failure.status.code >= 500 {
            logger.debug("HTTP request failed", metadata: ["uri": "\(request.uri)", "status": "\(failure.status.code)", "error": "\(failure.message)"])
        }
        var headers: [(String, String)] = []
        if failure.status == .methodNotAllowed { headers.append(("Allow", failure.message.contains("GET") ? "GET" : "POST")) }
        respond(request, status: failure.status, body: ("application/json", ByteBuffer(string: failure.body)), extraHeaders: headers,
                context: context)
    }

    private func respond(_ request: HTTPRequestHead, status: HTTPResponseStatus, body: (type: String, bytes: ByteBuffer)?,
                         extraHeaders: [(String, String)] = [], context: ChannelHandlerContext) {
        guard case .answering = state else { return } // the peer went away meanwhile
        var headers = corsHeaders(request)
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if let body { headers.add(name: "Content-Type", value: body.type) }
        headers.add(name: "Content-Length", value: "\(body?.bytes.readableBytes ?? 0)")
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if let body, request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body.bytes))), promise: nil) }
        let sent = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        state = .idle
        if !keepAlive {
            let channel = context.channel
            sent.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
