import Logging
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection to the gate (NIOHTTP1): reads a request, its body bounded,
/// and hands it to the gate's `HTTPGateResponder`; answers, or becomes an event stream.
final class HTTPGateHandler: ChannelInboundHandler, RemovableChannelHandler, HTTPGateExchange, @unchecked Sendable {
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
        case answering(HTTPRequestHead)
        case streaming(HTTP1EventStreamSink)
        /// The peer went away.
        case closed
    }

    private let responder: HTTPGateResponder
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Closes the connection if the next request (or the body of this one) does not
    /// arrive in time: armed while reading, off while answering or streaming.
    private var readDeadline: Scheduled<Void>?

    init(responder: HTTPGateResponder) {
        self.responder = responder
    }

    var eventLoop: EventLoop { context!.eventLoop }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        expectRequest(within: responder.configuration.idleTimeout)
    }

    private func expectRequest(within timeout: TimeAmount) {
        readDeadline?.cancel()
        guard let context else { return }
        let channel = context.channel
        readDeadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    private func stopReadDeadline() {
        readDeadline?.cancel()
        readDeadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            state = .receiving(head, body: context.channel.allocator.buffer(capacity: 0))
            expectRequest(within: responder.configuration.requestTimeout)
        case (.body(var chunk), .receiving(let head, var body)):
            if body.readableBytes + chunk.readableBytes > responder.configuration.maxBodyBytes {
                state = .discarding(head)
            } else {
                body.writeBuffer(&chunk)
                state = .receiving(head, body: body)
            }
        case (.end, .receiving(let head, let body)):
            state = .answering(head)
            stopReadDeadline()
            responder.answer(head, body: body, bodyTooLarge: false, on: self)
        case (.end, .discarding(let head)):
            state = .answering(head)
            stopReadDeadline()
            responder.answer(head, body: ByteBuffer(), bodyTooLarge: true, on: self)
        default:
            break // a discarded body's chunks; anything after a stream began
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .streaming(let sink) = state { sink.peerGone() }
        state = .closed
        stopReadDeadline()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: HTTPGateExchange

    var peerAddress: String? { context?.channel.remoteAddress?.ipAddress }

    var isAwaitingAnswer: Bool {
        if case .answering = state { return true }
        return false
    }

    func respond(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?) {
        guard case .answering(let request) = state, let context else { return }
        var headers = headers
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let sent = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        state = .idle
        expectRequest(within: responder.configuration.idleTimeout)
        if !keepAlive {
            let channel = context.channel
            sent.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func startEventStream(headers: HTTPHeaders) -> (any EventStreamSink)? {
        guard case .answering(let request) = state, let context else { return nil }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers))), promise: nil)
        let sink = HTTP1EventStreamSink(channel: context.channel)
        state = .streaming(sink)
        return sink
    }
}

/// An event stream's body on an HTTP/1.1 connection (chunked): what is unsent is what
/// the socket has not taken yet.
final class HTTP1EventStreamSink: EventStreamSink, @unchecked Sendable {
    // @unchecked: used on the channel's event loop only.
    private let channel: Channel
    private(set) var unsentBytes = 0
    private var onGone: (() -> Void)?
    private var gone = false

    init(channel: Channel) {
        self.channel = channel
    }

    var eventLoop: EventLoop { channel.eventLoop }

    func send(_ event: ByteBuffer) -> Int? {
        guard !gone else { return nil }
        let size = event.readableBytes
        unsentBytes += size
        RuntimeMetrics.eventStreamQueuedBytes.increment(by: Double(size))
        let written = eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [self] _ in
            unsentBytes -= size
            RuntimeMetrics.eventStreamQueuedBytes.decrement(by: Double(size))
        }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(event)), promise: written)
        return unsentBytes
    }

    func close() {
        channel.close(promise: nil)
    }

    func whenGone(_ action: @escaping () -> Void) {
        if gone { return action() }
        onGone = action
    }

    func peerGone() {
        guard !gone else { return }
        gone = true
        onGone?()
        onGone = nil
    }
}
