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
    let settings: HTTP2Settings
    let logger: Logger
    weak var delegate: HTTP2ConnectionDelegate?

    private(set) var session: OpaquePointer?
    private var streams = StreamTable()
    /// The stream looked up last. One call's events come in runs (its HEADERS and DATA,
    /// the handler's writes, then its frames going out), so most lookups hit this and
    /// skip hashing.
    private var lastStream: HTTP2Stream?

    private var context: ChannelHandlerContext?
    private var inReadBatch = false
    private var flushScheduled = false
    private var sentPreface = false
    /// GOAWAY sent or received: no new streams; close once the last stream ends.
    private(set) var isDraining = false
    private(set) var isClosed = false
    /// The error that closed the connection, if one did (e.g. a TLS verification failure).
    private(set) var closeError: Error?
    private var pendingPings: [UInt64: EventLoopPromise<Void>] = [:]
    private var nextPingID: UInt64 = 1
    private var keepaliveTimer: RepeatedTask?
    /// Header names and values recur on every request of a connection: reuse them.
    private var headerStrings = HeaderStringCache()
    /// The header block being received. HTTP/2 sends a block's frames back to back
    /// (RFC 9113 6.10), so one block is in progress per connection: reusing its storage
    /// spares every request the array's growth.
    private let headerBlock = HTTP2HeaderBlock()
    private var headerBlockSize = 0
    private var headerBlockTooLarge = false

    init(role: Role, settings: HTTP2Settings, logger: Logger) {
        self.role = role
        self.settings = settings
        self.logger = logger
    }

    // MARK: channel handler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        session = NGHTTP2Glue.makeSession(server: role == .server, userData: Unmanaged.passUnretained(self).toOpaque())
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
    }

    func channelActive(context: ChannelHandlerContext) {
        sendPreface()
        context.fireChannelActive()
    }

    private func sendPreface() {
        guard !sentPreface else { return }
        sentPreface = true
        flushNow()
        startKeepalive()
    }

    private func startKeepalive() {
        guard let interval = settings.keepaliveInterval, let context else { return }
        let timeout = settings.keepaliveTimeout
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        keepaliveTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            guard let ack = bound.value.ping() else { return }
            let deadline = ack.eventLoop.scheduleTask(in: timeout) {
                bound.value.logger.debug("closing HTTP/2 connection: keepalive PING not acknowledged")
                bound.value.close()
            }
            ack.whenComplete { _ in deadline.cancel() }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let session else { return }
        let buffer = unwrapInboundIn(data)
        inReadBatch = true
        let result = buffer.withUnsafeReadableBytes { bytes -> Int in
            guard let base = bytes.baseAddress else { return 0 }
            return nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        if result < 0 {
            // A fatal error (e.g. bad client preface): nghttp2 may have queued a GOAWAY
            // explaining it; send that, then close. Other connections are unaffected.
            let code = Int32(result)
            logger.debug("closing HTTP/2 connection: \(String(cString: nghttp2_strerror(code)))",
                         metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            if code == NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue {
                _ = nghttp2_session_terminate_session(session, HTTP2ErrorCode.protocolError.rawValue)
            }
            inReadBatch = false
            flushNow()
            close()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBatch = false
        flushNow()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { flushNow() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        keepaliveTimer?.cancel()
        keepaliveTimer = nil
        let open = streams.removeAll()
        lastStream = nil
        for stream in open {
            stream.closed = true
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

    private var spareOutput: ByteBuffer?
    private static let spareOutputLimit = 4 << 10

    /// A String for header bytes, from the connection's cache of recent ones.
    func headerString(_ bytes: UnsafeRawBufferPointer) -> String {
        headerStrings.string(bytes)
    }

    /// Writes everything nghttp2 has queued, in one buffer and one flush.
    func flushNow() {
        guard let session, let context, !isClosed else { return }
        let channel = context.channel
        guard sentPreface || channel.isActive else { return }
        var output: ByteBuffer?
        // A socket that cannot take more leaves frames in nghttp2 until it can
        // (channelWritabilityChanged flushes again). Asked once: the loop only fills `output`.
        let writable = channel.isWritable
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
                // The last flush's buffer is free again once the socket took it (the usual
                // case): reuse it instead of allocating per flush.
                if var spare = spareOutput {
                    spareOutput = nil
                    spare.clear()
                    output = spare
                } else {
                    output = channel.allocator.buffer(capacity: count)
                }
            }
            // A plain memcpy: ByteBuffer.writeBytes takes a slower generic path for raw pointers.
            output!.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                target.baseAddress!.copyMemory(from: chunk, byteCount: count)
                return count
            }
        }
        if let output {
            context.writeAndFlush(wrapOutboundOut(output), promise: nil)
            // Keep small buffers only: an idle connection should not hold a large one.
            if output.capacity <= Self.spareOutputLimit { spareOutput = output }
        }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            closeGracefully()
        } else if isDraining && streams.isEmpty && nghttp2_session_want_write(session) == 0 {
            closeGracefully()
        }
    }

    /// Arranges one flush at the end of this read batch or event-loop tick.
    func flushSoon() {
        guard !inReadBatch, !flushScheduled, let context else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flushNow()
        }
    }

    /// Closes now: for errors, where what is still queued does not matter.
    func close() {
        guard !isClosed, let context else { return }
        isClosed = true
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
        isClosed = true
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

    // MARK: streams: requests and responses

    /// The stream with this id, through `lastStream`.
    private func stream(_ id: Int32) -> HTTP2Stream? {
        if let last = lastStream, last.id == id { return last }
        let found = streams[id]
        if found != nil { lastStream = found }
        return found
    }

    /// Client: starts a request. Returns the stream id, or nil if the session refused.
    func startRequest(headers: [HTTP2Header], handler: HTTP2StreamHandler) -> Int32? {
        guard let session, !isDraining, !isClosed else { return nil }
        var provider = NGHTTP2Glue.dataProvider
        let id = NGHTTP2Glue.withNameValues(headers) { nva, count in
            nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        guard id > 0 else { return nil }
        let stream = HTTP2Stream(id: id)
        stream.handler = handler
        stream.hasDataProvider = true
        streams.insert(stream)
        flushSoon()
        return id
    }

    /// Server: sends the response head. With `endStream` it is a complete
    /// (Trailers-Only) response; otherwise data and trailers follow.
    func sendResponseHeaders(stream id: Int32, headers: [HTTP2Header], _ more: [HTTP2Header] = [],
                             _ evenMore: [HTTP2Header] = [], endStream: Bool) {
        guard let session, let stream = stream(id), !stream.closed else { return }
        NGHTTP2Glue.withNameValues(headers, more, evenMore) { nva, count in
            submitResponse(session, stream, nva, count, endStream: endStream)
        }
    }

    /// Server: sends a response head encoded once (see PreparedHeaders).
    func sendResponseHeaders(stream id: Int32, prepared: PreparedHeaders, endStream: Bool) {
        guard let session, let stream = stream(id), !stream.closed else { return }
        prepared.withNameValues { nva, count in
            submitResponse(session, stream, nva, count, endStream: endStream)
        }
    }

    private func submitResponse(_ session: OpaquePointer, _ stream: HTTP2Stream, _ nva: UnsafeMutablePointer<nghttp2_nv>,
                                _ count: Int, endStream: Bool) {
        var provider = NGHTTP2Glue.dataProvider
        let rv = endStream
            ? nghttp2_submit_response(session, stream.id, nva, count, nil)
            : nghttp2_submit_response(session, stream.id, nva, count, &provider)
        if rv != 0 {
            logger.debug("submit_response failed on stream \(stream.id): \(String(cString: nghttp2_strerror(rv)))")
        }
        stream.hasDataProvider = !endStream
        if endStream { stream.outboundFinished = true }
        flushSoon()
    }

    /// Queues DATA payload. Returns false when the queue is past the high watermark:
    /// the caller should wait for `streamWritable` before writing more.
    @discardableResult
    func sendData(stream id: Int32, _ buffer: ByteBuffer) -> Bool {
        guard let stream = queueData(buffer, on: id) else { return true }
        if stream.outbound.readableBytes >= settings.outboundHighWatermark {
            stream.writerBlocked = true
            return false
        }
        return true
    }

    /// Fan-out: queues DATA payload whatever the watermark and returns the bytes now
    /// waiting on the stream (the caller polices slow peers), or nil if it is gone.
    func sendDataReportingBacklog(stream id: Int32, _ buffer: ByteBuffer) -> Int? {
        queueData(buffer, on: id)?.outbound.readableBytes
    }

    private func queueData(_ buffer: ByteBuffer, on id: Int32) -> HTTP2Stream? {
        guard let stream = stream(id), !stream.closed, !stream.outboundFinished else { return nil }
        if stream.outbound.readableBytes == 0 {
            stream.outbound = buffer // share the caller's storage instead of copying
        } else {
            stream.outbound.writeImmutableBuffer(buffer)
        }
        resumeIfDeferred(stream)
        flushSoon()
        return stream
    }

    /// Ends the outbound side after queued data: with trailers (server) or a bare
    /// END_STREAM (client half-close).
    func finishStream(stream id: Int32, trailers: [HTTP2Header]?, _ moreTrailers: [HTTP2Header] = []) {
        guard let stream = stream(id), !stream.closed, !stream.outboundFinished else { return }
        stream.trailers = trailers
        stream.moreTrailers = moreTrailers
        finishOutbound(stream)
    }

    /// Server: ends the outbound side after queued data with trailers encoded once.
    func finishStream(stream id: Int32, preparedTrailers: PreparedHeaders) {
        guard let stream = stream(id), !stream.closed, !stream.outboundFinished else { return }
        stream.preparedTrailers = preparedTrailers
        finishOutbound(stream)
    }

    private func finishOutbound(_ stream: HTTP2Stream) {
        stream.outboundFinished = true
        resumeIfDeferred(stream)
        flushSoon()
    }

    func resetStream(stream id: Int32, code: HTTP2ErrorCode) {
        guard let session, let stream = stream(id), !stream.closed else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, code.rawValue)
        flushSoon()
    }

    /// Returns window for `count` bytes of DATA the application has consumed.
    func consume(stream id: Int32, _ count: Int) {
        guard let session, count > 0 else { return }
        _ = nghttp2_session_consume(session, id, count)
        flushSoon()
    }

    func outboundBytes(stream id: Int32) -> Int {
        stream(id)?.outbound.readableBytes ?? 0
    }

    private func resumeIfDeferred(_ stream: HTTP2Stream) {
        guard stream.deferred, let session else { return }
        stream.deferred = false
        _ = nghttp2_session_resume_data(session, stream.id)
    }

    // MARK: connection control

    /// Graceful shutdown: GOAWAY naming the last stream we accepted; in-flight streams
    /// finish, new ones are refused, and the connection closes when the last one ends.
    func startDraining() {
        guard let session, !isDraining else { return }
        isDraining = true
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session),
                                  HTTP2ErrorCode.noError.rawValue, nil, 0)
        flushNow()
    }

    /// Sends a PING; the future succeeds when the peer acknowledges it.
    func ping() -> EventLoopFuture<Void>? {
        guard let session, let context, !isClosed else { return nil }
        let id = nextPingID
        nextPingID += 1
        var opaque = id.bigEndian
        let promise = context.eventLoop.makePromise(of: Void.self)
        pendingPings[id] = promise
        _ = withUnsafeBytes(of: &opaque) { nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        flushSoon()
        return promise.futureResult
    }

    // MARK: nghttp2 callbacks (called by NGHTTP2Glue, inside mem_recv/mem_send)

    func onBeginHeaders(streamID: Int32, category: UInt32) -> Int32 {
        if role == .server && category == NGHTTP2_HCAT_REQUEST.rawValue {
            streams.insert(HTTP2Stream(id: streamID))
        }
        headerBlock.removeAll()
        headerBlockSize = 0
        headerBlockTooLarge = false
        return 0
    }

    /// One field of the header block being received.
    func onHeader(name: HTTP2HeaderBlock.Received, value: HTTP2HeaderBlock.Received) -> Int32 {
        headerBlockSize += HTTP2Stream.headerSize(nameLength: name.bytes.count, valueLength: value.bytes.count)
        if headerBlockSize > Int(settings.maxHeaderListSize) {
            // Stop storing; the block is answered as a whole once it is complete.
            headerBlockTooLarge = true
            headerBlock.removeAll()
            return 0
        }
        headerBlock.append(name: name, value: value)
        return 0
    }

    func onHeadersComplete(streamID: Int32, endStream: Bool) -> Int32 {
        // Readers take what they need during the call; the storage is reused by the next block.
        defer { headerBlock.removeAll() }
        guard let stream = stream(streamID) else { return 0 }
        if endStream { stream.remoteEnded = true }
        stream.headerBlocksReceived += 1
        if role == .server && stream.headerBlocksReceived == 1 {
            if isDraining {
                resetStream(stream: streamID, code: .refusedStream)
                return 0
            }
            stream.handler = delegate?.connection(
                self, openedStream: streamID, headers: headerBlock, endStream: endStream,
                oversizedHeaders: headerBlockTooLarge ? headerBlockSize : nil)
        } else if headerBlockTooLarge {
            resetStream(stream: streamID, code: .protocolError)
        } else {
            stream.handler?.streamReceivedHeaders(headerBlock.headers(&headerStrings), endStream: endStream)
        }
        return 0
    }

    func onDataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = stream(streamID), let handler = stream.handler else {
            // Nobody will read it: give the window back at once.
            if let session { _ = nghttp2_session_consume(session, streamID, data.count) }
            return 0
        }
        handler.streamReceivedData(data)
        return 0
    }

    func onDataEndStream(streamID: Int32) {
        guard let stream = stream(streamID) else { return }
        stream.remoteEnded = true
        stream.handler?.streamReceivedEndOfData()
    }

    func onStreamClose(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.remove(streamID) else { return }
        if lastStream === stream { lastStream = nil }
        stream.closed = true
        stream.handler?.streamClosed(errorCode == 0 ? .normal : .reset(errorCode))
        stream.handler = nil
        if isDraining && streams.isEmpty { flushSoon() }
    }

    func onGoAway(lastStreamID: Int32, errorCode: UInt32) {
        isDraining = true
        delegate?.connection(self, receivedGoAway: lastStreamID, errorCode: errorCode)
    }

    func onPingAck(_ opaque: UInt64) {
        pendingPings.removeValue(forKey: opaque)?.succeed()
    }

    /// The server finished its side (trailers or END_STREAM sent). If the client has
    /// not finished, RST_STREAM(NO_ERROR) tells it to stop sending (RFC 9113 8.1).
    func onEndStreamSent(streamID: Int32) {
        guard role == .server, let session, let stream = stream(streamID), !stream.remoteEnded else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, HTTP2ErrorCode.noError.rawValue)
    }

    /// Data provider: copies up to `length` queued bytes; defers when none are queued.
    func readData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let session, let stream = stream(streamID) else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let count = min(stream.outbound.readableBytes, buffer.count)
        if count > 0 {
            stream.outbound.withUnsafeReadableBytes { bytes in
                buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: count)
            }
            stream.outbound.moveReaderIndex(forwardBy: count)
            // Drop the drained buffer (it may be a caller's, shared): the next write replaces it.
            if stream.outbound.readableBytes == 0 { stream.outbound = HTTP2Stream.empty }
        }
        if stream.outbound.readableBytes == 0 && stream.outboundFinished {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let prepared = stream.preparedTrailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                _ = prepared.withNameValues { nva, n in nghttp2_submit_trailer(session, streamID, nva, n) }
            } else if let trailers = stream.trailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                _ = NGHTTP2Glue.withNameValues(trailers, stream.moreTrailers) { nva, n in nghttp2_submit_trailer(session, streamID, nva, n) }
            }
        } else if count == 0 {
            stream.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        if stream.writerBlocked && stream.outbound.readableBytes < settings.outboundHighWatermark / 2 {
            stream.writerBlocked = false
            stream.handler?.streamWritable()
        }
        return count
    }
}
