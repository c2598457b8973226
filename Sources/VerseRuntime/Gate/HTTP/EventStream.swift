import NIOCore
import NIOHTTP1
import VerseGRPC

/// A browser's event stream (`GET /api/v1/events/stream`, text/event-stream) as a push
/// destination. Like a gRPC Register stream it may fall only so far behind: a client
/// whose unsent events stay above the gate's limit for its grace period (or pass the
/// hard limit) is cut off, not buffered without bound.
final class EventStream: ClientPushStream, @unchecked Sendable {
    // @unchecked: the mutable state is touched only on `eventLoop` (asserted).
    let channel: Channel
    let form = PushForm.eventStream
    private var unsentBytes = 0
    private var overLimitSince: NIODeadline?
    private var heartbeat: RepeatedTask?
    private var ended = false
    private(set) var wasCutOff = false

    init(channel: Channel) {
        self.channel = channel
    }

    var eventLoop: EventLoop { channel.eventLoop }
    /// Each stream is its own "connection": HTTP calls name it by id, not by socket.
    var connectionID: ObjectIdentifier { ObjectIdentifier(self) }

    func write(_ push: PreparedPush, limit: ServerCall.BacklogLimit) {
        guard let event = push.eventStream else { return }
        send(event, limit: limit)
    }

    /// Sends the response head, the `register` event, and a heartbeat every `interval`.
    func start(head: HTTPResponseHead, clientID: String, heartbeat interval: TimeAmount, limit: ServerCall.BacklogLimit) {
        eventLoop.preconditionInEventLoop()
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        send(ServerSentEvents.register(clientID: clientID), limit: limit)
        heartbeat = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            send(ServerSentEvents.heartbeat, limit: limit)
        }
    }

    /// The connection closed: no more writes, no more heartbeats.
    func end() {
        eventLoop.preconditionInEventLoop()
        ended = true
        heartbeat?.cancel()
        heartbeat = nil
    }

    private func send(_ event: ByteBuffer, limit: ServerCall.BacklogLimit) {
        eventLoop.preconditionInEventLoop()
        guard !ended else { return }
        let size = event.readableBytes
        unsentBytes += size
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] _ in
            unsentBytes -= size
            if unsentBytes <= limit.bytes { overLimitSince = nil }
        }
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(event)), promise: promise)
        guard unsentBytes > limit.bytes else { return }
        if unsentBytes > limit.hardBytes { return cutOff() }
        if overLimitSince == nil {
            let since = NIODeadline.now()
            overLimitSince = since
            eventLoop.scheduleTask(in: limit.grace) { [self] in
                if overLimitSince == since && unsentBytes > limit.bytes { cutOff() }
            }
        }
    }

    private func cutOff() {
        guard !ended else { return }
        wasCutOff = true
        end()
        channel.close(promise: nil)
    }
}
