import NIOCore
import VerseGRPC

/// Where an event stream's bytes go: an HTTP/1.1 chunked body or an HTTP/2 stream.
/// Used on its event loop only.
protocol EventStreamSink: AnyObject {
    var eventLoop: EventLoop { get }
    /// Queues bytes; returns what the peer has not taken yet, nil once it is gone.
    func send(_ bytes: ByteBuffer) -> Int?
    var unsentBytes: Int { get }
    /// Ends the stream from this side.
    func close()
    /// Runs `action` once the peer is gone (closed, reset) or `close` was called.
    func whenGone(_ action: @escaping () -> Void)
}

/// A browser's event stream (`GET /api/v1/events/stream`, text/event-stream) as a push
/// destination. Like a gRPC Register stream it may fall only so far behind: a client
/// whose unsent events stay above the gate's limit for its grace period (or pass the
/// hard limit) is cut off, not buffered without bound.
final class EventStream: ClientPushStream, @unchecked Sendable {
    // @unchecked: the mutable state is touched only on `eventLoop` (asserted).
    let eventLoop: EventLoop
    let form = PushForm.eventStream
    private var sink: (any EventStreamSink)?
    private var overLimitSince: NIODeadline?
    private var heartbeat: RepeatedTask?
    private var ended = false
    private(set) var wasCutOff = false

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Each stream is its own "connection": HTTP calls name it by id, not by socket.
    var connectionID: ObjectIdentifier { ObjectIdentifier(self) }

    func write(_ push: PreparedPush, limit: ServerCall.BacklogLimit) {
        guard let event = push.eventStream else { return }
        send(event, limit: limit)
    }

    /// Sends the `register` event, then a heartbeat every `interval`; `ended` runs once
    /// when the stream is over (`cutOff`: for not reading).
    func start(_ sink: any EventStreamSink, clientID: String, heartbeat interval: TimeAmount, limit: ServerCall.BacklogLimit,
               ended onEnd: @escaping (_ cutOff: Bool) -> Void) {
        eventLoop.preconditionInEventLoop()
        self.sink = sink
        sink.whenGone { [self] in
            end()
            onEnd(wasCutOff)
        }
        send(ServerSentEvents.register(clientID: clientID), limit: limit)
        heartbeat = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            send(ServerSentEvents.heartbeat, limit: limit)
        }
    }

    private func end() {
        ended = true
        heartbeat?.cancel()
        heartbeat = nil
    }

    private func send(_ event: ByteBuffer, limit: ServerCall.BacklogLimit) {
        eventLoop.preconditionInEventLoop()
        guard !ended, let sink else { return }
        guard let unsent = sink.send(event) else { return end() }
        if unsent <= limit.bytes {
            overLimitSince = nil
            return
        }
        if unsent > limit.hardBytes { return cutOff() }
        if overLimitSince == nil {
            let since = NIODeadline.now()
            overLimitSince = since
            eventLoop.scheduleTask(in: limit.grace) { [self] in
                if overLimitSince == since && (self.sink?.unsentBytes ?? 0) > limit.bytes { cutOff() }
            }
        }
    }

    private func cutOff() {
        guard !ended else { return }
        wasCutOff = true
        sink?.close()
    }
}
