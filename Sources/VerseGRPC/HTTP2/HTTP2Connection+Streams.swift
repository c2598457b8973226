import CNghttp2
import NIOCore

/// The connection's side facing its streams' handlers: start a request, send a head,
/// queue DATA, finish with trailers, reset; and the connection-wide controls (GOAWAY,
/// PING). Every call runs on the connection's event loop and only queues work for
/// nghttp2; the bytes go out on the next flush.
extension HTTP2Connection {
    // MARK: streams: requests and responses

    /// The stream with this id, through `lastStream`.
    func stream(_ id: Int32) -> HTTP2Stream? {
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
        let stream = HTTP2Stream(id: id, state: .clientRequest())
        stream.handler = handler
        streams.insert(stream)
        flushSoon()
        return id
    }

    /// Server: sends the response head. With `endStream` it is a complete
    /// (Trailers-Only) response; otherwise data and trailers follow.
    func sendResponseHeaders(stream id: Int32, headers: [HTTP2Header], _ more: [HTTP2Header] = [],
                             _ evenMore: [HTTP2Header] = [], endStream: Bool) {
        guard let session, let stream = stream(id), stream.state.sendHeaders(endStream: endStream) else { return }
        NGHTTP2Glue.withNameValues(headers, more, evenMore) { nva, count in
            submitResponse(session, stream, nva, count, endStream: endStream)
        }
    }

    /// Server: sends a response head encoded once (see PreparedHeaders).
    func sendResponseHeaders(stream id: Int32, prepared: PreparedHeaders, endStream: Bool) {
        guard let session, let stream = stream(id), stream.state.sendHeaders(endStream: endStream) else { return }
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
        flushSoon()
    }

    /// Queues DATA payload. Returns false when the queue is past the high watermark:
    /// the caller should wait for `streamWritable` before writing more.
    @discardableResult
    func sendData(stream id: Int32, _ buffer: ByteBuffer) -> Bool {
        guard let stream = queueData(buffer, on: id) else { return true }
        return stream.state.queued(backlog: stream.outbound.readableBytes, highWatermark: settings.outboundHighWatermark)
    }

    /// Fan-out: queues DATA payload whatever the watermark and returns the bytes now
    /// waiting on the stream (the caller polices slow peers), or nil if it is gone.
    func sendDataReportingBacklog(stream id: Int32, _ buffer: ByteBuffer) -> Int? {
        queueData(buffer, on: id)?.outbound.readableBytes
    }

    private func queueData(_ buffer: ByteBuffer, on id: Int32) -> HTTP2Stream? {
        guard let stream = stream(id), case .queue(let resume) = stream.state.queueData() else { return nil }
        dataQueued(buffer.readableBytes)
        stream.outbound.append(buffer)
        if let budget = settings.maxQueuedBytesPerConnection, queuedDataBytes > budget { shedLargestStreams(toFit: budget) }
        if resume { resumeData(stream) }
        flushSoon()
        return stream
    }

    /// Ends the outbound side after queued data: with trailers (server) or a bare
    /// END_STREAM (client half-close).
    func finishStream(stream id: Int32, trailers: [HTTP2Header]?, _ moreTrailers: [HTTP2Header] = []) {
        guard let stream = stream(id), case .queue(let resume) = stream.state.finish() else { return }
        stream.trailers = trailers
        stream.moreTrailers = moreTrailers
        finishOutbound(stream, resume: resume)
    }

    /// Server: ends the outbound side after queued data with trailers encoded once.
    func finishStream(stream id: Int32, preparedTrailers: PreparedHeaders) {
        guard let stream = stream(id), case .queue(let resume) = stream.state.finish() else { return }
        stream.preparedTrailers = preparedTrailers
        finishOutbound(stream, resume: resume)
    }

    private func finishOutbound(_ stream: HTTP2Stream, resume: Bool) {
        if resume { resumeData(stream) }
        flushSoon()
    }

    func resetStream(stream id: Int32, code: HTTP2ErrorCode) {
        guard let session, let stream = stream(id), !stream.state.isClosed else { return }
        HTTP2Metrics.resetsSent[code].increment()
        // A reset stream sends no more DATA: its queue is freed now (and stops counting
        // against the budgets before the RST_STREAM is even out).
        dataQueued(-stream.outbound.readableBytes)
        stream.outbound.removeAll()
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

    private func resumeData(_ stream: HTTP2Stream) {
        guard let session else { return }
        _ = nghttp2_session_resume_data(session, stream.id)
    }

    // MARK: connection control

    /// Graceful shutdown: GOAWAY naming the last stream we accepted; in-flight streams
    /// finish, new ones are refused, and the connection closes when the last one ends.
    func startDraining() {
        guard let session, lifecycle == .starting || lifecycle == .active else { return }
        HTTP2Metrics.goAwaysSent[.noError].increment()
        lifecycle = .draining
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session),
                                  HTTP2ErrorCode.noError.rawValue, nil, 0)
        flushNow()
    }

    /// Sends a PING; the future succeeds when the peer acknowledges it.
    func ping() -> EventLoopFuture<Void>? {
        guard let context, let id = sendPing() else { return nil }
        let promise = context.eventLoop.makePromise(of: Void.self)
        pendingPings[id] = promise // the ACK cannot come before the next read
        return promise.futureResult
    }

    /// Sends a PING carrying a new ID, which its ACK brings back (`pingAcknowledged`).
    func sendPing() -> UInt64? {
        guard let session, !isClosed else { return nil }
        let id = nextPingID
        nextPingID += 1
        var opaque = id.bigEndian
        _ = withUnsafeBytes(of: &opaque) { nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        flushSoon()
        return id
    }
}
