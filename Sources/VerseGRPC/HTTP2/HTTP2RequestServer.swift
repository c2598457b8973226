import Logging
import NIOCore

/// Plain HTTP requests (not gRPC) over this stack's HTTP/2 connection: what the gate's
/// HTTP port serves when a TLS client settles on "h2". Each stream's request is read
/// whole (its body bounded), then handed to a handler with a responder for its answer,
/// which may be one response or a stream of chunks (Server-Sent Events).
public enum HTTP2RequestServer {
    /// Serves HTTP/2 on `channel`, whose TLS handler negotiated "h2".
    public static func configure(_ channel: Channel, settings: HTTP2Settings = HTTP2Settings(), maxBodyBytes: Int,
                                 handler: any HTTP2RequestHandler, logger: Logger) throws {
        let connection = HTTP2Connection(role: .server, settings: settings, logger: logger)
        let delegate = RequestConnection(eventLoop: channel.eventLoop, maxBodyBytes: maxBodyBytes, handler: handler)
        try channel.pipeline.syncOperations.addHandler(connection)
        connection.delegate = delegate // held until the pipeline lets go of the connection
    }
}

/// A complete request from one HTTP/2 stream.
public struct HTTP2Request: Sendable {
    public var method: String
    /// The `:path`, query included.
    public var path: String
    /// Regular header fields, names in lowercase.
    public var headers: [HTTP2Header]
    public var body: ByteBuffer
    /// The body passed the limit: it was not kept.
    public var bodyTooLarge: Bool

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// Takes each complete request, on the connection's event loop.
public protocol HTTP2RequestHandler: Sendable {
    func handle(_ request: HTTP2Request, responder: HTTP2Responder)
}

/// The answer to one HTTP/2 stream. Every method must be called on `eventLoop`.
public final class HTTP2Responder: @unchecked Sendable {
    // @unchecked: used only on `eventLoop` (the connection's).
    public let eventLoop: EventLoop
    private let connection: HTTP2Connection
    private let streamID: Int32
    private var closed = false
    private var onClose: (() -> Void)?

    init(connection: HTTP2Connection, streamID: Int32, eventLoop: EventLoop) {
        self.connection = connection
        self.streamID = streamID
        self.eventLoop = eventLoop
    }

    /// Who sent the request.
    public var remoteAddress: SocketAddress? { connection.context?.channel.remoteAddress }

    /// The stream is still open (the peer has not reset it, the connection is up).
    public var isOpen: Bool { !closed }

    /// A whole response.
    public func respond(status: Int, headers: [HTTP2Header], body: ByteBuffer?) {
        eventLoop.preconditionInEventLoop()
        let head = [HTTP2Header(":status", "\(status)")] + headers
        guard let body, body.readableBytes > 0 else {
            return connection.sendResponseHeaders(stream: streamID, headers: head, endStream: true)
        }
        connection.sendResponseHeaders(stream: streamID, headers: head, endStream: false)
        connection.sendData(stream: streamID, body)
        connection.finishStream(stream: streamID, trailers: nil)
    }

    /// A response whose body follows in `send` calls.
    public func startStreaming(status: Int, headers: [HTTP2Header]) {
        eventLoop.preconditionInEventLoop()
        connection.sendResponseHeaders(stream: streamID, headers: [HTTP2Header(":status", "\(status)")] + headers, endStream: false)
    }

    /// Queues a chunk of a streamed body; returns the bytes now waiting for the peer's
    /// flow-control window on this stream (what it has left unread), nil if it is gone.
    @discardableResult
    public func send(_ chunk: ByteBuffer) -> Int? {
        eventLoop.preconditionInEventLoop()
        guard !closed else { return nil }
        return connection.sendDataReportingBacklog(stream: streamID, chunk)
    }

    /// Bytes queued on the stream that the peer's window has not let out yet.
    public var unsentBytes: Int { connection.outboundBytes(stream: streamID) }

    /// Ends the stream: a streamed body's end, or a reset if the answer was cut short.
    public func close(reset: Bool = false) {
        eventLoop.preconditionInEventLoop()
        guard !closed else { return }
        if reset { connection.resetStream(stream: streamID, code: .cancel) } else { connection.finishStream(stream: streamID, trailers: nil) }
    }

    /// Runs `action` once the stream is gone (at once if it is).
    public func whenClosed(_ action: @escaping () -> Void) {
        eventLoop.preconditionInEventLoop()
        if closed { return action() }
        let earlier = onClose
        onClose = { earlier?(); action() }
    }

    func streamClosed() {
        guard !closed else { return }
        closed = true
        let action = onClose
        onClose = nil
        action?()
    }
}

/// Per-connection glue: each opened stream becomes an `HTTP2RequestReader`.
final class RequestConnection: HTTP2ConnectionDelegate, @unchecked Sendable {
    // @unchecked: used only on its connection's event loop (held by the connection).
    private let eventLoop: EventLoop
    private let maxBodyBytes: Int
    private let handler: any HTTP2RequestHandler

    init(eventLoop: EventLoop, maxBodyBytes: Int, handler: any HTTP2RequestHandler) {
        self.eventLoop = eventLoop
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
    }

    func connection(_ connection: HTTP2Connection, openedStream streamID: Int32,
                    headers: HTTP2HeaderBlock, endStream: Bool, oversizedHeaders: Int?) -> HTTP2StreamHandler? {
        guard oversizedHeaders == nil else {
            connection.sendResponseHeaders(stream: streamID, headers: [HTTP2Header(":status", "431")], endStream: true)
            return nil
        }
        var method = "", path = "", fields: [HTTP2Header] = []
        for header in headers.headers(connection.headerStrings) {
            switch header.name {
            case ":method": method = header.value
            case ":path": path = header.value
            case ":authority", ":scheme": break
            default: fields.append(header)
            }
        }
        let request = HTTP2Request(method: method, path: path, headers: fields, body: ByteBuffer(), bodyTooLarge: false)
        let stream = HTTP2RequestReader(request: request, maxBodyBytes: maxBodyBytes, handler: handler,
                                   responder: HTTP2Responder(connection: connection, streamID: streamID, eventLoop: eventLoop),
                                   connection: connection, streamID: streamID)
        if endStream {
            stream.streamReceivedEndOfData()
        } else {
            stream.expectBody(within: HTTP2RequestReader.bodyTimeout, on: eventLoop)
        }
        return stream
    }

    func connection(_ connection: HTTP2Connection, receivedGoAway lastStreamID: Int32, errorCode: UInt32) {}
    func connectionClosed(_ connection: HTTP2Connection) {}
}

/// One request being read.
final class HTTP2RequestReader: HTTP2StreamHandler {
    private var request: HTTP2Request
    private let maxBodyBytes: Int
    private let handler: any HTTP2RequestHandler
    private let responder: HTTP2Responder
    private unowned let connection: HTTP2Connection
    private let streamID: Int32
    private var handed = false
    /// Answers 408 if the body has not ended in time (a peer holding a stream open).
    private var bodyDeadline: Scheduled<Void>?
    static let bodyTimeout = TimeAmount.seconds(30)

    init(request: HTTP2Request, maxBodyBytes: Int, handler: any HTTP2RequestHandler, responder: HTTP2Responder,
         connection: HTTP2Connection, streamID: Int32) {
        self.request = request
        self.maxBodyBytes = maxBodyBytes
        self.handler = handler
        self.responder = responder
        self.connection = connection
        self.streamID = streamID
    }

    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {
        if endStream { streamReceivedEndOfData() } // trailers: ignored
    }

    func streamReceivedData(_ data: UnsafeRawBufferPointer) {
        connection.consume(stream: streamID, data.count) // read into memory: the window may reopen
        guard !request.bodyTooLarge else { return }
        if request.body.readableBytes + data.count > maxBodyBytes {
            request.bodyTooLarge = true
            request.body = ByteBuffer()
        } else {
            request.body.writeBytes(data)
        }
    }

    func streamReceivedEndOfData() {
        guard !handed else { return }
        handed = true
        bodyDeadline?.cancel()
        bodyDeadline = nil
        handler.handle(request, responder: responder)
    }

    func expectBody(within timeout: TimeAmount, on eventLoop: EventLoop) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        bodyDeadline = eventLoop.scheduleTask(in: timeout) {
            let reader = bound.value
            reader.bodyDeadline = nil
            guard !reader.handed else { return }
            reader.handed = true
            reader.responder.respond(status: 408, headers: [HTTP2Header("content-type", "text/plain")],
                                     body: ByteBuffer(string: "the request body did not end within \(timeout.nanoseconds / 1_000_000_000) s\n"))
        }
    }

    func streamClosed(_ reason: HTTP2StreamCloseReason) {
        bodyDeadline?.cancel()
        bodyDeadline = nil
        responder.streamClosed()
    }

    func streamWritable() {}
}
