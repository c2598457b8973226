import NIOCore

/// The event-loop side of one server call: deframes requests into the inbox, sends
/// the response head, messages and trailers, and enforces the deadline. Where the call
/// is lives in one value, `ServerCallStateMachine`; this class carries out what it says.
final class ServerStream: HTTP2StreamHandler {
    /// Strong: a weak reference would give the connection a side table and slow every
    /// retain of it (nghttp2 callbacks retain it constantly). The connection drops its
    /// streams when they or it close, which breaks the cycle; `streamClosed` lets go too.
    private var connection: HTTP2Connection?
    private var deframer: MessageDeframer
    /// Set in `start`; dropped when the stream closes, which breaks the
    /// ServerCall -> ServerStream -> ServerCall cycle.
    private var call: ServerCall?
    private var task: Task<Void, Never>?
    private var deadlineTimer: Scheduled<Void>?
    /// The other timer a call may need, which one depending on where it is: before the
    /// handler starts, the one that ends a call whose single request has not ended in
    /// time (`timeRequest`); once the handler writes, the one that cuts off a peer still
    /// behind on its pushes after the grace period. Never both at once, so one slot (a
    /// `Scheduled` is 24 bytes, in every push stream a client keeps open).
    private enum PhaseTimer {
        case request(Scheduled<Void>)
        case backlog(Scheduled<Void>)

        func cancel() {
            switch self {
            case .request(let timer), .backlog(let timer): timer.cancel()
            }
        }
    }
    private var phaseTimer: PhaseTimer?
    // The small fields together: spread among the wider ones, each would take a word.
    let id: Int32
    private var machine = ServerCallStateMachine(singleRequest: false)
    private var writeWaiters = WriteWaiters()
    /// Single-request methods: the handler and its message, until the request side is complete.
    private var pendingHandler: GRPCService.Handler?
    private var singleRequest: ReceivedMessage?
    /// The method's metrics, and when the stream opened (uptime nanoseconds).
    var metrics: GRPCCallMetrics?
    private let startedAt = NIODeadline.now().uptimeNanoseconds
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
                bound.value.end(GRPCStatus(.deadlineExceeded, "deadline exceeded"), cancellingHandler: true)
            }
        }
        switch handler {
        case .requestStream:
            launch(call, handler, request: nil)
        case .singleRequest:
            machine = ServerCallStateMachine(singleRequest: true)
            pendingHandler = handler
        }
    }

    /// Arms the request-completion timer if the request is still unfinished.
    func timeRequest(_ timeout: TimeAmount, on eventLoop: EventLoop) {
        guard case .awaitingRequest = machine.state, phaseTimer == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        phaseTimer = .request(eventLoop.scheduleTask(in: timeout) {
            bound.value.end(GRPCStatus(.deadlineExceeded, "the request did not end within \(timeout.nanoseconds / 1_000_000_000) s"),
                            cancellingHandler: true)
        })
    }

    /// Runs the handler as a task (on the event loop when `executor` is set) and ends
    /// the call with whatever status it produced.
    /// (The explicit capture lists are needed: Swift 6.3's region checker rejects these
    /// closures with implicit captures.)
    private func launch(_ call: ServerCall, _ handler: GRPCService.Handler, request: ByteBuffer?) {
        // A handler that hands its call over (keepOpen) returns while the call lives on,
        // often for hours: the stream then lets go of the finished task, whose memory
        // (about 3 KiB of task allocator slabs) is freed only with the last reference.
        let stream = NIOLoopBound(self, eventLoop: call.eventLoop)
        let eventLoop = call.eventLoop
        if let executor {
            // Handlers meant for the event loop start right here, on it: a handler that
            // never suspends completes within this read, with no job scheduled at all.
            task = Task.immediate(executorPreference: executor) { @Sendable [call, handler, request] in
                if await Self.run(call, handler, request) == .handedOver { eventLoop.execute { stream.value.task = nil } }
            }
        } else {
            task = Task { @Sendable [call, handler, request] in
                if await Self.run(call, handler, request) == .handedOver { eventLoop.execute { stream.value.task = nil } }
            }
        }
    }

    private enum HandlerOutcome { case finished, handedOver }

    /// The handler task's body. Nonisolated and nonsending (this module's default): it
    /// runs wherever its task runs, with no executor switch on the way in or out.
    private static func run(_ call: ServerCall, _ handler: GRPCService.Handler, _ request: ByteBuffer?) async -> HandlerOutcome {
        let status: GRPCStatus
        do {
            switch handler {
            case .singleRequest(let body): try await body(request ?? ByteBuffer(), call)
            case .requestStream(let body): try await body(call)
            }
            guard call.endsWhenHandlerReturns else { return .handedOver }
            status = .ok
        } catch let error as GRPCStatusConvertible {
            status = error.grpcStatus
        } catch is CancellationError {
            status = GRPCStatus(.cancelled, "the call was cancelled")
        } catch {
            status = GRPCStatus(.unknown, "\(error)")
        }
        call.finish(status)
        return .finished
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
        guard let connection, let call, startWrite(connection, call) else {
            return .failed(GRPCStatus(.cancelled, "the call has ended"))
        }
        if connection.sendData(stream: id, message) { return .accepted }
        return .wait(writeWaiters.wait(on: eventLoop))
    }

    /// Fan-out writes: queue regardless of the watermark, but cut off a peer that
    /// stays behind (bounded memory per slow client, while bursts to fast ones pass).
    func writeImmediately(_ message: ByteBuffer, limit: ServerCall.BacklogLimit) -> ServerCall.ImmediateWrite {
        guard let connection, let call, startWrite(connection, call) else { return .callEnded }
        let backlog = connection.sendDataReportingBacklog(stream: id, message) ?? 0
        if backlog > limit.hardBytes {
            cutOff(backlog: backlog)
            return .peerTooSlow
        }
        if backlog > limit.bytes && phaseTimer == nil {
            // Look again after the grace period: still behind means not reading.
            let bound = NIOLoopBound(self, eventLoop: call.eventLoop)
            phaseTimer = .backlog(call.eventLoop.scheduleTask(in: limit.grace) {
                let stream = bound.value
                stream.phaseTimer = nil
                guard let backlog = stream.connection?.outboundBytes(stream: stream.id), backlog > limit.bytes else { return }
                stream.cutOff(backlog: backlog)
            })
        }
        return .queued
    }

    /// What the machine says about a write: false to refuse it; sends the response head
    /// first when it is the first.
    private func startWrite(_ connection: HTTP2Connection, _ call: ServerCall) -> Bool {
        switch machine.writing() {
        case .sendHeadersFirst:
            sendHeaders(connection, call)
            return true
        case .send:
            return true
        case .reject:
            return false
        }
    }

    /// A peer that does not read cannot read a status either: reset the stream
    /// (ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED) so the
    /// queued bytes are freed now.
    private func cutOff(backlog: Int) {
        guard machine.cutOff() else { return }
        connection?.resetStream(stream: id, code: .enhanceYourCalm)
        call?.markCutOff(backlog: backlog)
        tearDown(inbox: GRPCStatus(.resourceExhausted, "the client stopped reading: \(backlog) bytes queued"), cancellingHandler: true)
    }

    func streamOverBudget(queuedBytes: Int) -> Bool {
        guard machine.isLive else { return false }
        cutOff(backlog: queuedBytes)
        return true
    }

    func sendHeadersNow() {
        guard let connection, let call else { return }
        _ = startWrite(connection, call)
    }

    private func sendHeaders(_ connection: HTTP2Connection, _ call: ServerCall) {
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
            headers.append(HTTP2Header("grpc-message", GRPCStatus.percentEncode(Self.wireMessage(status.message))))
        }
        return headers
    }

    /// A status message is cut to this many UTF-8 bytes on the wire (whole characters):
    /// trailers must fit what every peer accepts (grpcio refuses about 8 KiB of them,
    /// nghttp2 will not send a block past its own limit), whatever a handler put in it.
    static let maxWireMessageBytes = 1024

    static func wireMessage(_ message: String) -> String {
        guard message.utf8.count > maxWireMessageBytes else { return message }
        return message.prefix(utf8Bytes: maxWireMessageBytes - 3) + "..."
    }

    /// The handler's status.
    func finish(_ status: GRPCStatus) {
        end(status, cancellingHandler: false)
    }

    /// Ends the call with `status`: trailers (or a Trailers-Only response), then the
    /// common teardown. A deadline or a protocol error also cancels the handler.
    private func end(_ status: GRPCStatus, cancellingHandler: Bool) {
        let outcome = machine.finish()
        guard outcome != .nothing else { return }
        metrics?.record(status.code, startedAt: startedAt)
        if let connection, let call {
            let trailingMetadata = call.trailingMetadata
            switch outcome {
            case .sendTrailers where trailingMetadata.isEmpty && status.isOK && status.message.isEmpty:
                connection.finishStream(stream: id, preparedTrailers: Self.preparedOKStatus)
            case .sendTrailers:
                connection.finishStream(stream: id, trailers: Self.statusHeaders(status), trailingMetadata.headers)
            case .sendTrailersOnly:
                // Head, metadata and status in one HEADERS frame.
                connection.sendResponseHeaders(stream: id, headers: Self.responseHead, call.initialMetadata.headers + trailingMetadata.headers,
                                               Self.statusHeaders(status), endStream: true)
            case .nothing:
                break
            }
        }
        tearDown(inbox: status.isOK ? .ok : status, cancellingHandler: cancellingHandler)
    }

    /// What every end of a call does, once: timers off, waiting writers failed, the end
    /// reported (keepOpen, waitUntilEnded), the inbox ended, the handler cancelled if asked.
    private func tearDown(inbox status: GRPCStatus, cancellingHandler: Bool) {
        deadlineTimer?.cancel()
        phaseTimer?.cancel()
        phaseTimer = nil
        writeWaiters.failAll(GRPCStatus(.cancelled, "the call has ended"))
        call?.markEnded()
        call?.inbox?.finish(status)
        if cancellingHandler { task?.cancel() }
    }

    // MARK: HTTP2StreamHandler

    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {
        // Request trailers carry nothing gRPC uses; they only end the request side.
        streamReceivedEndOfData()
    }

    func streamReceivedData(_ data: UnsafeRawBufferPointer) {
        guard machine.isLive, let call else {
            connection?.consume(stream: id, data.count)
            return
        }
        deframer.append(data)
        do {
            while let message = try deframer.next() {
                switch machine.receivedMessage() {
                case .deliver:
                    call.inbox?.push(message)
                case .held:
                    singleRequest = message
                    connection?.consume(stream: id, message.wireSize)
                case .discard:
                    connection?.consume(stream: id, message.wireSize)
                case .fail(let status):
                    end(status, cancellingHandler: true)
                    return
                }
            }
        } catch {
            end(MessageDeframer.status(for: error), cancellingHandler: true)
        }
    }

    func streamReceivedEndOfData() {
        guard let call else { return }
        switch machine.receivedEndOfRequest(partialBytes: deframer.pendingBytes) {
        case .startHandler:
            phaseTimer?.cancel() // the request timer: the handler has not written yet
            phaseTimer = nil
            call.inbox?.finish(.ok)
            if let request = singleRequest.take(), let handler = pendingHandler.take() {
                if request.wasCompressed { call.markRequestCompressed() }
                launch(call, handler, request: request.bytes)
            }
        case .endInbox:
            call.inbox?.finish(.ok)
        case .fail(let status):
            end(status, cancellingHandler: true)
        case .nothing:
            break
        }
    }

    func streamClosed(_ reason: HTTP2StreamCloseReason) {
        switch machine.streamClosed() {
        case .endCall:
            let status = GRPCStatus(.cancelled, reason == .connectionLost ? "the client went away" : "the client cancelled the call")
            tearDown(inbox: status, cancellingHandler: true)
        case .release:
            deadlineTimer?.cancel()
            phaseTimer?.cancel()
        case .nothing:
            break
        }
        call = nil
        task = nil
        pendingHandler = nil
        singleRequest = nil
        connection = nil
    }

    func streamWritable() {
        writeWaiters.resumeAll()
    }
}
