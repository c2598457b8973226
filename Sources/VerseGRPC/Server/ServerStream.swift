import NIOCore

/// The event-loop side of one server call: deframes requests into the inbox, sends
/// the response head, messages and trailers, and enforces the deadline.
///
/// States: the response head is not sent / sent; the call is open / finished. A
/// finish before any message goes out is a Trailers-Only response (one HEADERS frame).
final class ServerStream: HTTP2StreamHandler {
    /// Strong: a weak reference would give the connection a side table and slow every
    /// retain of it (nghttp2 callbacks retain it constantly). The connection drops its
    /// streams when they or it close, which breaks the cycle; `streamClosed` lets go too.
    private var connection: HTTP2Connection?
    let id: Int32
    private var deframer: MessageDeframer
    /// Set in `start`; dropped when the stream closes, which breaks the
    /// ServerCall -> ServerStream -> ServerCall cycle.
    private var call: ServerCall?
    private var task: Task<Void, Never>?
    private var deadlineTimer: Scheduled<Void>?
    private var headersSent = false
    private var finished = false
    private var writeWaiters: [EventLoopPromise<Void>] = []
    /// Single-request methods: the handler waits here until the request side is complete.
    private var pendingHandler: GRPCService.Handler?
    private var singleRequest: ReceivedMessage?
    private var executor: EventLoopTaskExecutor?

    init(connection: HTTP2Connection, id: Int32, maxMessageSize: Int, requestEncoding: GRPCCompression?) {
        self.connection = connection
        self.id = id
        self.deframer = MessageDeframer(maxMessageSize: maxMessageSize, encoding: requestEncoding)
        #if DEBUG
        LiveObjectCounter.serverStreams.withLockedValue { $0 += 1 }
        #endif
    }

    #if DEBUG
    deinit { LiveObjectCounter.serverStreams.withLockedValue { $0 -= 1 } }
    #endif

    func start(call: ServerCall, handler: GRPCService.Handler, timeoutNanos: Int64?, eventLoop: EventLoop,
               executor: EventLoopTaskExecutor?) {
        self.call = call
        self.executor = executor
        if let timeoutNanos {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            deadlineTimer = eventLoop.scheduleTask(in: .nanoseconds(timeoutNanos)) {
                bound.value.deadlineExceeded()
            }
        }
        switch handler {
        case .requestStream:
            launch(call, handler, request: nil)
        case .singleRequest:
            pendingHandler = handler
        }
    }

    /// Runs the handler as a task (on the event loop when `executor` is set) and ends
    /// the call with whatever status it produced.
    /// (The explicit capture lists are needed: Swift 6.3's region checker rejects these
    /// closures with implicit captures.)
    private func launch(_ call: ServerCall, _ handler: GRPCService.Handler, request: ByteBuffer?) {
        if let executor {
            // Handlers meant for the event loop start right here, on it: a handler that
            // never suspends completes within this read, with no job scheduled at all.
            task = Task.immediate(executorPreference: executor) { @Sendable [call, handler, request] in
                await Self.run(call, handler, request)
            }
        } else {
            task = Task { @Sendable [call, handler, request] in await Self.run(call, handler, request) }
        }
    }

    /// The handler task's body. Nonisolated and nonsending (this module's default): it
    /// runs wherever its task runs, with no executor switch on the way in or out.
    private static func run(_ call: ServerCall, _ handler: GRPCService.Handler, _ request: ByteBuffer?) async {
        let status: GRPCStatus
        do {
            switch handler {
            case .singleRequest(let body): try await body(request ?? ByteBuffer(), call)
            case .requestStream(let body): try await body(call)
            }
            guard call.endsWhenHandlerReturns else { return } // handed over (keepOpen)
            status = .ok
        } catch let error as GRPCStatus {
            status = error
        } catch is CancellationError {
            status = GRPCStatus(.cancelled, "the call was cancelled")
        } catch {
            status = GRPCStatus(.unknown, "\(error)")
        }
        call.finish(status)
    }

    // MARK: outbound (event loop)

    enum WriteOutcome {
        /// Queued; the caller may write again at once.
        case accepted
        /// Queued, but the stream is over its watermark: wait for this before the next write.
        case wait(EventLoopFuture<Void>)
        case failed(GRPCStatus)
    }

    /// Queues a framed message.
    func write(_ message: ByteBuffer, on eventLoop: EventLoop) -> WriteOutcome {
        guard !finished, let connection, let call else {
            return .failed(GRPCStatus(.cancelled, "the call has ended"))
        }
        sendHeadersIfNeeded(connection, call)
        if connection.sendData(stream: id, message) { return .accepted }
        let promise = eventLoop.makePromise(of: Void.self)
        writeWaiters.append(promise)
        return .wait(promise.futureResult)
    }

    /// Fan-out writes: queue regardless of the watermark, but cut off a peer that
    /// stays behind (bounded memory per slow client, while bursts to fast ones pass).
    func writeImmediately(_ message: ByteBuffer, limit: ServerCall.BacklogLimit) -> ServerCall.ImmediateWrite {
        guard !finished, let connection, let call else { return .callEnded }
        sendHeadersIfNeeded(connection, call)
        let backlog = connection.sendDataReportingBacklog(stream: id, message) ?? 0
        if backlog > limit.hardBytes {
            cutOff(backlog: backlog)
            return .peerTooSlow
        }
        if backlog > limit.bytes && backlogCheck == nil {
            // Look again after the grace period: still behind means not reading.
            let bound = NIOLoopBound(self, eventLoop: call.eventLoop)
            backlogCheck = call.eventLoop.scheduleTask(in: limit.grace) {
                let stream = bound.value
                stream.backlogCheck = nil
                guard let backlog = stream.connection?.outboundBytes(stream: stream.id), backlog > limit.bytes else { return }
                stream.cutOff(backlog: backlog)
            }
        }
        return .queued
    }

    private var backlogCheck: Scheduled<Void>?

    /// A peer that does not read cannot read a status either: reset the stream
    /// (ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED) so the
    /// queued bytes are freed now.
    private func cutOff(backlog: Int) {
        guard !finished, let connection else { return }
        finished = true
        deadlineTimer?.cancel()
        backlogCheck?.cancel()
        backlogCheck = nil
        failWriters()
        connection.resetStream(stream: id, code: .enhanceYourCalm)
        call?.markCutOff()
        call?.markEnded()
        call?.inbox?.finish(GRPCStatus(.resourceExhausted, "the client stopped reading: \(backlog) bytes queued"))
        task?.cancel()
    }

    func sendHeadersNow() {
        guard !finished, let connection, let call else { return }
        sendHeadersIfNeeded(connection, call)
    }

    private func sendHeadersIfNeeded(_ connection: HTTP2Connection, _ call: ServerCall) {
        guard !headersSent else { return }
        headersSent = true
        let metadata = call.initialMetadata
        let encoding = call.responseEncoding
        if metadata.isEmpty && encoding == nil {
            connection.sendResponseHeaders(stream: id, prepared: Self.preparedResponseHead, endStream: false)
        } else {
            let encodingHeaders = encoding.map { [HTTP2Header("grpc-encoding", $0.rawValue)] } ?? []
            connection.sendResponseHeaders(stream: id, headers: Self.responseHead, encodingHeaders, metadata.headers, endStream: false)
        }
    }

    static let responseHead = preparedResponseHead.headers
    /// Most calls send no custom metadata and end with a bare OK: those fields are
    /// encoded once for all calls.
    private static let preparedResponseHead = PreparedHeaders([HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc")])
    private static let preparedOKStatus = PreparedHeaders([HTTP2Header("grpc-status", "0")])

    static func statusHeaders(_ status: GRPCStatus) -> [HTTP2Header] {
        if status.isOK && status.message.isEmpty { return preparedOKStatus.headers }
        var headers = [HTTP2Header("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            headers.append(HTTP2Header("grpc-message", GRPCStatus.percentEncode(status.message)))
        }
        return headers
    }

    func finish(_ status: GRPCStatus) {
        guard !finished else { return }
        finished = true
        deadlineTimer?.cancel()
        failWriters()
        call?.markEnded()
        guard let connection, let call else { return }
        let trailingMetadata = call.trailingMetadata
        if headersSent && trailingMetadata.isEmpty && status.isOK && status.message.isEmpty {
            connection.finishStream(stream: id, preparedTrailers: Self.preparedOKStatus)
        } else if headersSent {
            connection.finishStream(stream: id, trailers: Self.statusHeaders(status), trailingMetadata.headers)
        } else {
            // Trailers-Only: head, metadata and status in one HEADERS frame.
            headersSent = true
            connection.sendResponseHeaders(stream: id, headers: Self.responseHead, call.initialMetadata.headers + trailingMetadata.headers,
                                           Self.statusHeaders(status), endStream: true)
        }
        call.inbox?.finish(status.isOK ? .ok : status)
    }

    private func deadlineExceeded() {
        guard !finished else { return }
        finish(GRPCStatus(.deadlineExceeded, "deadline exceeded"))
        task?.cancel()
    }

    private func failWriters() {
        let waiters = writeWaiters
        writeWaiters.removeAll()
        for waiter in waiters { waiter.fail(GRPCStatus(.cancelled, "the call has ended")) }
    }

    // MARK: HTTP2StreamHandler

    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {
        // Request trailers carry nothing gRPC uses; they only end the request side.
        streamReceivedEndOfData()
    }

    func streamReceivedData(_ data: UnsafeRawBufferPointer) {
        guard !finished, let call else {
            connection?.consume(stream: id, data.count)
            return
        }
        deframer.append(data)
        do {
            while let message = try deframer.next() {
                if pendingHandler == nil {
                    call.inbox?.push(message)
                } else if singleRequest == nil {
                    singleRequest = message
                    // Nobody reads an inbox here: give the window back at once.
                    connection?.consume(stream: id, message.wireSize)
                } else {
                    fail(GRPCStatus(.internal, "the client sent more than one request message to a single-request method"))
                    return
                }
            }
        } catch {
            fail(MessageDeframer.status(for: error))
        }
    }

    func streamReceivedEndOfData() {
        guard !finished, let call else { return }
        if deframer.pendingBytes > 0 {
            fail(GRPCStatus(.internal, "the request ended in the middle of a message (\(deframer.pendingBytes) bytes of a partial message)"))
        } else if let handler = pendingHandler {
            pendingHandler = nil
            guard let request = singleRequest else {
                fail(GRPCStatus(.internal, "the client half-closed without sending a request message"))
                return
            }
            singleRequest = nil
            call.inbox?.finish(.ok)
            if request.wasCompressed { call.markRequestCompressed() }
            launch(call, handler, request: request.bytes)
        } else {
            call.inbox?.finish(.ok)
        }
    }

    func streamClosed(_ reason: HTTP2StreamCloseReason) {
        deadlineTimer?.cancel()
        if !finished {
            finished = true
            let status = GRPCStatus(.cancelled, reason == .connectionLost ? "the client went away" : "the client cancelled the call")
            call?.inbox?.finish(status)
            call?.markEnded() // finish and cutOff mark it themselves
            failWriters()
            task?.cancel()
        }
        call = nil
        task = nil
        pendingHandler = nil
        singleRequest = nil
        connection = nil
    }

    func streamWritable() {
        let waiters = writeWaiters
        writeWaiters.removeAll()
        for waiter in waiters { waiter.succeed() }
    }

    /// The request broke the protocol: answer with `status` and stop the handler.
    private func fail(_ status: GRPCStatus) {
        finish(status)
        task?.cancel()
    }
}
