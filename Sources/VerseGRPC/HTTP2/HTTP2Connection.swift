import CNghttp2
import Logging
import NIOCore

/// One HTTP/2 connection: an nghttp2 session driven by a SwiftNIO channel handler.
///
/// nghttp2 does all framing, HPACK, flow-control accounting and protocol checks; this
/// class only moves bytes between the socket and the session and turns nghttp2's
/// callbacks into per-stream events. Everything runs on the channel's event loop.
///
/// Output is batched: bytes nghttp2 wants to send are drained once per read batch
/// (`channelReadComplete`) or once per event-loop tick for writes that start elsewhere.
final class HTTP2Connection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Role { case server, client }

    let role: Role
    /// The settings, shared by the connections a server makes (about 100 bytes that
    /// each would otherwise hold; see SharedHTTP2Settings).
    private let sharedSettings: SharedHTTP2Settings
    var settings: HTTP2Settings { sharedSettings.value }
    let logger: Logger
    /// Strong, and let go when the handler leaves the pipeline (which every closed
    /// channel does): the delegate holds the connection too, and a weak reference would
    /// give each delegate a side table (32 bytes per connected client) and each call
    /// through it the slower weak load.
    var delegate: HTTP2ConnectionDelegate?

    private(set) var session: OpaquePointer?
    var streams = StreamTable()
    /// The stream looked up last. One call's events come in runs (its HEADERS and DATA,
    /// the handler's writes, then its frames going out), so most lookups hit this and
    /// skip hashing.
    var lastStream: HTTP2Stream?

    var context: ChannelHandlerContext?
    var inReadBatch = false
    var flushScheduled = false
    /// The channel's writability as its last channelWritabilityChanged said (new
    /// channels are writable): kept here because asking the channel on every flush
    /// costs a pipeline lookup and its retains. (The flags sit together: a Bool among
    /// wider fields costs a word of padding, and a byte past 448 costs the connection a
    /// 512-byte allocation.)
    private var channelWritable = true
    /// DATA bytes queued on this connection's streams, not yet taken by nghttp2 (waiting
    /// for flow-control window or for the socket); and how much of it the process-wide
    /// gauge has been told, brought up to date once per flush rather than per write.
    private(set) var queuedDataBytes = 0
    /// Header blocks reset for being far over the limit (see `abandonHeaderBlock`).
    var abandonedHeaderBlocks = 0
    private var reportedQueuedDataBytes = 0
    /// What the process budget calls to make this connection shed (see QueuedDataBudget).
    private var shedOnLoop: (@Sendable () -> Void)?
    /// Where flushSoon queues this connection: one flush task per loop and tick for all
    /// of its connections (see LoopFlushQueue).
    private var flushQueue: LoopFlushQueue?
    /// Where the connection is in its life: `starting` (our preface not sent yet) ->
    /// `active` -> `draining` (GOAWAY sent or received: no new streams; it closes once
    /// the last stream ends) -> `closed`. An error closes it from any state.
    enum Lifecycle { case starting, active, draining, closed }
    var lifecycle = Lifecycle.starting
    var isDraining: Bool { lifecycle == .draining }
    var isClosed: Bool { lifecycle == .closed }
    /// The error that closed the connection, if one did (e.g. a TLS verification failure).
    private(set) var closeError: Error?
    var pendingPings: [UInt64: EventLoopPromise<Void>] = [:]
    var nextPingID: UInt64 = 1
    /// The loop's timing wheel, and this connection's place on it (-1: not on it).
    private var timers: ConnectionTimerWheel?
    var timerSlot = -1
    var timerIndex = 0
    /// When the next keepalive PING is due; while one is unanswered, its ID and the
    /// moment the connection is given up if no ACK has come.
    private var nextKeepalive: NIODeadline?
    private var keepalivePingID: UInt64?
    private var keepaliveAckDeadline: NIODeadline?
    /// When a read or an open stream last showed the connection in use.
    private var lastActive = NIODeadline.uptimeNanoseconds(0)
    /// Header names and values recur on every request: reuse them (the loop thread's cache).
    private(set) var headerStrings: HeaderStringCache!
    /// The header block being received. HTTP/2 sends a block's frames back to back
    /// (RFC 9113 6.10), so one block is in progress per connection: reusing its storage
    /// spares every request the array's growth.
    let headerBlock = HTTP2HeaderBlock()
    var headerBlockSize = 0
    var headerBlockTooLarge = false
    /// Bytes read after the connection closed (dropped unprocessed).
    private var droppedAfterClose = 0
    /// nghttp2's outbound frame buffer, found by the session's allocator hooks (lives
    /// until the session is deleted, then with the connection).
    private let frameBuffer: UnsafeMutablePointer<NGHTTP2FrameBuffer> = {
        let record = UnsafeMutablePointer<NGHTTP2FrameBuffer>.allocate(capacity: 1)
        record.initialize(to: NGHTTP2FrameBuffer())
        return record
    }()
    /// The frame buffer's pages are resident and the loop's FrameBufferReclaimer holds
    /// this connection until it has been idle long enough to give them back.
    var frameBufferListed = false
    /// The reclaimer's tick at this connection's last write.
    var lastOutputTick: Int64 = 0

    init(role: Role, settings: SharedHTTP2Settings, logger: Logger) {
        self.role = role
        self.sharedSettings = settings
        self.logger = logger
        _ = HTTP2Metrics.queuedDataBytes // made with the first connection: a scrape shows 0, not nothing
    }

    convenience init(role: Role, settings: HTTP2Settings, logger: Logger) {
        self.init(role: role, settings: SharedHTTP2Settings(settings), logger: logger)
    }

    deinit {
        if let session { nghttp2_session_del(session) } // never added to a pipeline's end
        frameBuffer.deinitialize(count: 1)
        frameBuffer.deallocate()
    }

    // MARK: channel handler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        headerStrings = .current
        // Found through the channel, not held: a weak reference to the connection would
        // give it a side table, and every retain of it (several per write) the slow path.
        let channel = context.channel
        shedOnLoop = {
            channel.eventLoop.execute { (try? channel.pipeline.syncOperations.handler(type: HTTP2Connection.self))?.shedLargestStreams() }
        }
        flushQueue = .current(for: context.eventLoop)
        timers = flushQueue?.timers
        session = NGHTTP2Glue.makeSession(server: role == .server, userData: Unmanaged.passUnretained(self).toOpaque(),
                                          frameBuffer: frameBuffer)
        guard let session else {
            context.close(promise: nil)
            return
        }
        NGHTTP2Glue.submitSettings(session, settings, server: role == .server)
        if context.channel.isActive { sendPreface() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The session's callbacks point at self: delete it before self can be freed.
        headerBlock.removeAll() // a block cut off mid-way still holds the session's buffers
        if let session { nghttp2_session_del(session) }
        session = nil
        self.context = nil
        timers?.cancel(self) // the wheel holds the connection
        shedOnLoop = nil // it holds the channel
        delegate?.connectionRemoved(self)
        delegate = nil // it holds the connection
    }

    func channelActive(context: ChannelHandlerContext) {
        sendPreface()
        context.fireChannelActive()
    }

    private func sendPreface() {
        guard lifecycle == .starting else { return }
        lifecycle = .active
        flushNow()
        startTimers()
    }

    /// Keepalive and idle deadlines go on the loop's timing wheel: one entry per
    /// connection, for whichever comes first (see ConnectionTimerWheel).
    private func startTimers() {
        guard let context else { return }
        let now = context.eventLoop.now // the loop's clock: tests on an embedded loop drive it
        lastActive = now
        if let interval = settings.keepaliveInterval { nextKeepalive = now + interval }
        armTimer()
    }

    private func armTimer() {
        guard let timers, !isClosed else { return }
        var next = keepaliveAckDeadline ?? nextKeepalive
        if let timeout = settings.idleTimeout, lifecycle == .active {
            let idleAt = lastActive + timeout
            next = next.map { min($0, idleAt) } ?? idleAt
        }
        if let next { timers.schedule(self, at: next) }
    }

    /// The wheel's call at this connection's deadline: does what is due, arms the next.
    func timerFired() {
        guard let context, !isClosed else { return }
        let now = context.eventLoop.now
        if let timeout = settings.idleTimeout, lifecycle == .active {
            if !streams.isEmpty { lastActive = now }
            if now - lastActive >= timeout {
                terminate(.noError, reason: "idle for \(timeout.nanoseconds / 1_000_000_000) s") // closes once sent
            }
        }
        if let deadline = keepaliveAckDeadline, now >= deadline {
            logger.debug("closing HTTP/2 connection: keepalive PING not acknowledged")
            return close()
        }
        if keepaliveAckDeadline == nil, let due = nextKeepalive, now >= due, let interval = settings.keepaliveInterval {
            keepalivePingID = sendPing()
            if keepalivePingID != nil { keepaliveAckDeadline = now + settings.keepaliveTimeout }
            nextKeepalive = now + interval
        }
        armTimer()
    }

    /// A PING's ACK: the keepalive's, or one a caller of `ping()` waits for.
    func pingAcknowledged(_ id: UInt64) {
        if id == keepalivePingID {
            keepalivePingID = nil
            keepaliveAckDeadline = nil // the wheel's entry for it finds nothing due and re-arms
        }
        pendingPings.removeValue(forKey: id)?.succeed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let session, !isClosed else { return dropAfterClose(buffer.readableBytes, context: context) }
        if settings.idleTimeout != nil { lastActive = context.eventLoop.now }
        HTTP2Metrics.bytesReceived.increment(by: Int64(buffer.readableBytes))
        inReadBatch = true
        let result = buffer.withUnsafeReadableBytes { bytes -> Int in
            guard let base = bytes.baseAddress else { return 0 }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        if result < 0 {
            // A fatal error (a bad preface, a malformed frame, a flood): GOAWAY with the
            // reason's code (nghttp2 queued one for some errors already; it sends one
            // GOAWAY at most), then close. Other connections are unaffected.
            let code = Int32(result)
            let reason = String(cString: nghttp2_strerror(code))
            inReadBatch = false
            let abuse = code == NGHTTP2_ERR_FLOODED.rawValue || code == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue
            terminate(abuse ? .enhanceYourCalm : .protocolError, reason: reason)
            // Unread input makes the kernel answer with a reset, which can destroy the
            // GOAWAY before the peer reads it: close the output after it, read to the end.
            closeGracefully()
            return
        }
    }

    /// Ends the connection for a protocol reason: GOAWAY with `code` naming the last
    /// stream processed, written out now; the connection closes once it is sent.
    func terminate(_ code: HTTP2ErrorCode, reason: String) {
        guard let session, !isClosed else { return }
        logger.debug("closing HTTP/2 connection: \(reason)",
                     metadata: ["peer": "\(context?.channel.remoteAddress.map { "\($0)" } ?? "?")", "code": "\(code.name)"])
        if nghttp2_session_terminate_session(session, code.rawValue) == 0 {
            HTTP2Metrics.goAwaysSent[code].increment()
        }
        lifecycle = .draining
        if !inReadBatch { flushNow() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        delegate?.connectionFinishedReadBatch(self)
        flushNow()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        channelWritable = context.channel.isWritable
        if channelWritable { flushNow() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        lifecycle = .closed
        timers?.cancel(self)
        let open = streams.removeAll()
        lastStream = nil
        dataQueued(-queuedDataBytes)
        reportQueuedData()
        for stream in open where stream.state.close() {
            stream.handler?.streamClosed(.connectionLost)
        }
        for promise in pendingPings.values { promise.fail(ChannelError.ioOnClosedChannel) }
        pendingPings.removeAll()
        delegate?.connectionClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("HTTP/2 connection error: \(error)")
        if closeError == nil { closeError = error }
        close()
    }

    // MARK: output

    /// A String for header bytes, from the connection's cache of recent ones.
    func headerString(_ bytes: UnsafeRawBufferPointer) -> String {
        headerStrings.string(bytes)
    }

    /// Writes everything nghttp2 has queued, in one buffer and one flush.
    func flushNow() {
        guard let session, let context, !isClosed else { return }
        // Most read batches leave nothing to send (a client's WINDOW_UPDATE after each
        // push): then skip the channel's state checks, which cost as much as the read.
        if nghttp2_session_want_write(session) != 0 { writeQueuedFrames(session, context) }
        reportQueuedData()
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            closeGracefully()
        } else if isDraining && streams.isEmpty && nghttp2_session_want_write(session) == 0 {
            closeGracefully()
        }
    }

    private func writeQueuedFrames(_ session: OpaquePointer, _ context: ChannelHandlerContext) {
        guard lifecycle != .starting || context.channel.isActive else { return }
        var output: ByteBuffer?
        // A socket that cannot take more leaves frames in nghttp2 until it can
        // (channelWritabilityChanged flushes again). Read once: the loop only fills `output`.
        let writable = channelWritable
        while writable {
            var chunk: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &chunk)
            if count < 0 {
                logger.debug("nghttp2 send failed: \(String(cString: nghttp2_strerror(Int32(count))))")
                close()
                return
            }
            guard count > 0, let chunk else { break }
            if output == nil {
                // The loop's last flush buffer is free again once its socket took it (the
                // usual case): reuse it instead of allocating per flush.
                if var spare = flushQueue?.takeSpareOutput() {
                    spare.clear()
                    output = spare
                } else {
                    output = context.channel.allocator.buffer(capacity: count)
                }
            }
            // A plain memcpy: ByteBuffer.writeBytes takes a slower generic path for raw pointers.
            output!.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                target.baseAddress!.copyMemory(from: chunk, byteCount: count)
                return count
            }
        }
        if let output {
            HTTP2Metrics.bytesSent.increment(by: Int64(output.readableBytes))
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
            flushQueue?.keepSpareOutput(output)
            if settings.idleBufferRelease != nil { flushQueue?.reclaimer.wrote(self) }
        }
    }

    enum FrameBufferCheck {
        /// Still written to: the buffer may go at `releasableAt` (a reclaimer tick) at the
        /// earliest, if nothing is written before.
        case inUse(releasableAt: Int64)
        case released
        case closing
    }

    /// The loop's reclaimer asks this while the frame buffer is resident: released once
    /// the connection has been idle long enough (then the reclaimer lets go of it).
    func checkFrameBuffer(atTick tick: Int64) -> FrameBufferCheck {
        guard let session, lifecycle == .active, let release = settings.idleBufferRelease else { return .closing }
        let idleTicks = max(release.nanoseconds / FrameBufferReclaimer.tick.nanoseconds, 1)
        let releasableAt = lastOutputTick + idleTicks + 1
        guard tick >= releasableAt else { return .inUse(releasableAt: releasableAt) }
        // Nothing queued means no frame is packed in the buffer (see NGHTTP2FrameBuffer).
        guard nghttp2_session_want_write(session) == 0 else { return .inUse(releasableAt: tick + 1) }
        if frameBuffer.pointee.releasePages() { HTTP2Metrics.frameBuffersReleased.increment() }
        headerBlock.releaseStorage() // the other buffer an idle connection keeps for its next request
        return .released
    }

    /// The frame buffer nghttp2's allocator hooks recognised (for tests).
    var frameBufferPages: UnsafeMutableRawBufferPointer? { frameBuffer.pointee.pages }

    /// DATA queued (positive) or taken by nghttp2 or dropped with its stream (negative).
    func dataQueued(_ bytes: Int) {
        queuedDataBytes += bytes
    }

    private func reportQueuedData() {
        let change = queuedDataBytes - reportedQueuedDataBytes
        guard change != 0 else { return }
        reportedQueuedDataBytes = queuedDataBytes
        HTTP2Metrics.queuedDataBytes.increment(by: Double(change))
        guard let shedOnLoop else { return }
        QueuedDataBudget.process.report(ObjectIdentifier(self), bytes: queuedDataBytes, shed: shedOnLoop)
    }

    /// Over a budget: the stream holding the most queued DATA whose handler agrees is
    /// ended (its queue is freed at once), then the next largest while the connection
    /// is still over `budget`. With no budget (the process's, which asks again while the
    /// process is over) one stream goes. Each pick is one scan of the table: sorting
    /// every stream at every write past the budget made a connection with 200 unread
    /// streams stall its loop for 150 ms (debug build) while they were being cut off.
    func shedLargestStreams(toFit budget: Int? = nil) {
        var asked: [ObjectIdentifier] = [] // refused, or agreed: never asked twice
        while let largest = streams.holdingMostQueuedData(where: { !asked.contains(ObjectIdentifier($0)) }) {
            asked.append(ObjectIdentifier(largest))
            guard largest.handler?.streamOverBudget(queuedBytes: largest.outbound.readableBytes) == true else { continue }
            guard let budget, queuedDataBytes > budget else { break }
        }
        flushSoon()
    }

    /// Arranges one flush at the end of this read batch or event-loop tick.
    func flushSoon() {
        guard !inReadBatch, !flushScheduled, let flushQueue else { return }
        flushScheduled = true
        flushQueue.add(self)
    }

    /// The flush flushSoon arranged (called by the loop's LoopFlushQueue).
    func flushQueued() {
        flushScheduled = false
        flushNow()
    }

    /// Closes now: for errors, where what is still queued does not matter.
    func close() {
        guard !isClosed, let context else { return }
        lifecycle = .closed
        context.close(promise: nil)
    }

    /// Closes a connection whose work is done (drained after GOAWAY) without losing its
    /// last bytes. A plain close drops writes still queued in NIO (a slow reader's last
    /// DATA and trailers), and closing with the peer's frames unread makes the kernel
    /// reset the connection, which can discard what the peer had not read yet. So: the
    /// output side closes once the queued writes are out (FIN after the last byte), and
    /// the channel when the peer closes its side, or after `lingerTimeout` at the latest.
    private func closeGracefully() {
        guard !isClosed, let context else { return }
        lifecycle = .closed
        let channel = context.channel
        let closedOutput = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: closedOutput)
        closedOutput.futureResult.whenComplete { result in
            if case .failure = result {
                channel.close(promise: nil)
            } else {
                // Cancelled when the channel closes: the timer holds the channel, and a
                // closed connection should not linger in memory for the timeout.
                let linger = channel.eventLoop.scheduleTask(in: Self.lingerTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in linger.cancel() }
            }
        }
    }

    /// How long a gracefully closed connection waits for its peer to close its side.
    static let lingerTimeout = TimeAmount.seconds(5)
    /// What a closed connection reads (and drops) at most before it is closed outright.
    static let lingerInputLimit = 1 << 20

    /// Input after our close is read only so the peer can read our GOAWAY (see
    /// closeGracefully). A peer that keeps sending regardless (rapid reset carries on
    /// after nghttp2's GOAWAY) is closed outright past `lingerInputLimit`: it would keep
    /// the event loop reading for the whole linger.
    private func dropAfterClose(_ bytes: Int, context: ChannelHandlerContext) {
        droppedAfterClose += bytes
        if droppedAfterClose > Self.lingerInputLimit {
            logger.debug("closing HTTP/2 connection: still sending after GOAWAY",
                         metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            context.close(promise: nil)
        }
    }
}
