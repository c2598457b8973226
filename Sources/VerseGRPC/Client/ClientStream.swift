import NIOCore

/// The event-loop side of one client call: sends the request side as the caller
/// writes, deframes responses into the inbox, and settles the call's status from the
/// trailers (or from a reset, a lost connection, the deadline, or a local cancel).
final class ClientStream: HTTP2StreamHandler {
    /// Strong, as in ServerStream: no side table on the connection; the connection drops
    /// its streams when they or it close, which breaks the cycle.
    private var connection: HTTP2Connection?
    private(set) var id: Int32 = 0
    private var deframer: MessageDeframer
    let inbox: MessageInbox
    let initialMetadata: EventLoopPromise<Metadata>
    let outcome: EventLoopPromise<(GRPCStatus, Metadata)>
    private var deadlineTimer: Scheduled<Void>?
    private var completed = false
    private var sawResponseHead = false
    private var writeWaiters: [EventLoopPromise<Void>] = []
    /// When set, messages go straight to this handler on the event loop (no inbox,
    /// no task hop); see `ClientCall.receive(_:)`.
    private var directHandler: (@Sendable (ByteBuffer) -> Void)?

    init(connection: HTTP2Connection, eventLoop: EventLoop, maxMessageSize: Int, inbox: MessageInbox) {
        self.connection = connection
        self.deframer = MessageDeframer(maxMessageSize: maxMessageSize)
        self.inbox = inbox
        self.initialMetadata = eventLoop.makePromise()
        self.outcome = eventLoop.makePromise()
        #if DEBUG
        LiveObjectCounter.clientStreams.withLockedValue { $0 += 1 }
        #endif
    }

    #if DEBUG
    deinit { LiveObjectCounter.clientStreams.withLockedValue { $0 -= 1 } }
    #endif

    /// Submits the request head; false if the connection cannot take new streams.
    func start(headers: [HTTP2Header], timeoutNanos: Int64?, eventLoop: EventLoop) -> Bool {
        guard let connection, let id = connection.startRequest(headers: headers, handler: self) else {
            // Settle the promises: an unstarted stream must not leave them dangling.
            complete(GRPCStatus(.unavailable, "the connection cannot take new calls"), trailers: Metadata())
            return false
        }
        self.id = id
        if let timeoutNanos {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            deadlineTimer = eventLoop.scheduleTask(in: .nanoseconds(timeoutNanos)) {
                bound.value.cancel(with: GRPCStatus(.deadlineExceeded, "deadline exceeded"))
            }
        }
        return true
    }

    func write(_ message: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard !completed, let connection else {
            return eventLoop.makeFailedFuture(outcomeStatusOr(GRPCStatus(.cancelled, "the call has ended")))
        }
        if connection.sendData(stream: id, message) { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        writeWaiters.append(promise)
        return promise.futureResult
    }

    private var settledStatus: GRPCStatus?

    private func outcomeStatusOr(_ fallback: GRPCStatus) -> GRPCStatus {
        settledStatus ?? fallback
    }

    /// Switches to direct delivery: queued messages first, then each as it arrives.
    func receiveDirectly(_ handler: @escaping @Sendable (ByteBuffer) -> Void) {
        for message in inbox.drainQueued() { handler(message.bytes) }
        directHandler = handler
    }

    func halfClose() {
        guard !completed else { return }
        connection?.finishStream(stream: id, trailers: nil)
    }

    /// Ends the call locally (cancel, deadline): RST_STREAM(CANCEL) tells the server.
    func cancel(with status: GRPCStatus) {
        guard !completed else { return }
        connection?.resetStream(stream: id, code: .cancel)
        complete(status, trailers: Metadata())
    }

    private func complete(_ status: GRPCStatus, trailers: Metadata) {
        guard !completed else { return }
        completed = true
        settledStatus = status
        deadlineTimer?.cancel()
        deliverInitialMetadata(Metadata())
        inbox.finish(status)
        outcome.succeed((status, trailers))
        let waiters = writeWaiters
        writeWaiters.removeAll()
        for waiter in waiters { waiter.fail(status.isOK ? GRPCStatus(.cancelled, "the call has ended") : status) }
    }

    // MARK: HTTP2StreamHandler

    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {
        guard !completed else { return }
        if !sawResponseHead {
            sawResponseHead = true
            var httpStatus: Int?, contentType: String?, encoding: String?
            for header in headers {
                if header.name == ":status" { httpStatus = Int(header.value) }
                if header.name == "content-type" { contentType = header.value }
                if header.name == "grpc-encoding" { encoding = header.value }
            }
            if let httpStatus, (100..<200).contains(httpStatus) {
                sawResponseHead = false // informational; the real head follows
                return
            }
            guard httpStatus == 200 else {
                connection?.resetStream(stream: id, code: .cancel)
                complete(GRPCStatus.fromHTTPStatus(httpStatus ?? 0), trailers: Metadata())
                return
            }
            guard let contentType, contentType.hasPrefix("application/grpc") else {
                connection?.resetStream(stream: id, code: .cancel)
                complete(GRPCStatus(.unknown, "response content-type \"\(contentType ?? "")\" is not application/grpc"), trailers: Metadata())
                return
            }
            if let encoding, encoding != "identity" {
                guard let known = GRPCCompression(rawValue: encoding) else {
                    connection?.resetStream(stream: id, code: .cancel)
                    complete(GRPCStatus(.internal, "the response's grpc-encoding \"\(encoding.prefix(40))\" is not supported"),
                             trailers: Metadata())
                    return
                }
                deframer.encoding = known
            }
            deliverInitialMetadata(Metadata(headers: headers))
            if endStream { settle(trailers: headers) } // Trailers-Only
            return
        }
        settle(trailers: headers)
    }

    private var initialMetadataDelivered = false

    private func deliverInitialMetadata(_ metadata: Metadata) {
        guard !initialMetadataDelivered else { return }
        initialMetadataDelivered = true
        initialMetadata.succeed(metadata)
    }

    private func settle(trailers: [HTTP2Header]) {
        var code: String?, message: String?
        for header in trailers {
            if header.name == "grpc-status" { code = header.value }
            if header.name == "grpc-message" { message = header.value }
        }
        var status = GRPCStatus(wireCode: code, wireMessage: message)
        if status.isOK && deframer.pendingBytes > 0 {
            status = GRPCStatus(.internal, "the response ended in the middle of a message")
        }
        complete(status, trailers: Metadata(headers: trailers))
    }

    func streamReceivedData(_ data: UnsafeRawBufferPointer) {
        guard !completed else {
            connection?.consume(stream: id, data.count)
            return
        }
        deframer.append(data)
        do {
            while let message = try deframer.next() {
                if let directHandler {
                    directHandler(message.bytes)
                    connection?.consume(stream: id, message.wireSize)
                } else {
                    inbox.push(message)
                }
            }
        } catch {
            cancel(with: MessageDeframer.status(for: error))
        }
    }

    func streamReceivedEndOfData() {
        // END_STREAM on DATA without trailers: the server broke the protocol.
        guard !completed else { return }
        complete(GRPCStatus(.internal, "the server ended the response without trailers"), trailers: Metadata())
    }

    func streamClosed(_ reason: HTTP2StreamCloseReason) {
        guard !completed else { return }
        switch reason {
        case .normal: complete(GRPCStatus(.internal, "the stream closed without a status"), trailers: Metadata())
        case .reset(let code): complete(GRPCStatus.fromResetCode(code), trailers: Metadata())
        case .connectionLost:
            let cause = connection?.closeError.map { ": \($0)" } ?? ""
            complete(GRPCStatus(.unavailable, "the connection to the server was lost" + cause), trailers: Metadata())
        }
    }

    func streamWritable() {
        let waiters = writeWaiters
        writeWaiters.removeAll()
        for waiter in waiters { waiter.succeed() }
    }
}
