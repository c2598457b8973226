import NIOCore
import NIOHTTP1
import VerseGRPC

/// The gate's HTTP API over HTTP/2 (HTTPS clients that settle on "h2"): each stream's
/// request goes to the same `HTTPGateResponder` as HTTP/1.1's.
struct HTTP2GateRequests: HTTP2RequestHandler {
    let responder: HTTPGateResponder

    func handle(_ request: HTTP2Request, responder stream: HTTP2Responder) {
        var headers = HTTPHeaders()
        for header in request.headers { headers.add(name: header.name, value: header.value) }
        let head = HTTPRequestHead(version: .http2, method: HTTPMethod(rawValue: request.method), uri: request.path, headers: headers)
        responder.answer(head, body: request.body, bodyTooLarge: request.bodyTooLarge, on: HTTP2GateExchange(stream))
    }
}

/// One HTTP/2 stream's answer.
final class HTTP2GateExchange: HTTPGateExchange, EventStreamSink, @unchecked Sendable {
    // @unchecked: used on the stream's event loop only.
    private let stream: HTTP2Responder
    private var answered = false

    init(_ stream: HTTP2Responder) {
        self.stream = stream
    }

    var peerAddress: String? { stream.remoteAddress?.ipAddress }

    var eventLoop: EventLoop { stream.eventLoop }
    var isAwaitingAnswer: Bool { !answered && stream.isOpen }

    func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?) {
        answered = true
        stream.respond(status: Int(status.code), headers: Self.fields(headers), body: body)
    }

    func startEventStream(headers: HTTPHeaders) -> (any EventStreamSink)? {
        answered = true
        stream.startStreaming(status: 200, headers: Self.fields(headers))
        return self
    }

    func send(_ bytes: ByteBuffer) -> Int? { stream.send(bytes) }
    var unsentBytes: Int { stream.unsentBytes }
    func close() { stream.close(reset: true) }
    func whenGone(_ action: @escaping () -> Void) { stream.whenClosed(action) }

    /// HTTP/2 field names are lowercase; connection-specific fields do not exist there.
    private static func fields(_ headers: HTTPHeaders) -> [HTTP2Header] {
        headers.filter { $0.name.lowercased() != "connection" }.map { HTTP2Header($0.name.lowercased(), $0.value) }
    }
}
