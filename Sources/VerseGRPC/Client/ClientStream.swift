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
    let outcome: EventLoopPromise<(GRPCStatus, Metadata, CallEndCause)>
    private var deadlineTimer: Scheduled<Void>?
    /// Where the call is; this class carries out what it says.
    private var machine = ClientCallStateMachine()
    private var initialMetadataDelivered = false
    private var writeWaiters = WriteWaiters()
    /// When set, messages go straight to this handler on the event loop (no inbox,
    /// no task hop); see `ClientCall.receive(_:)`.
    private var directHandler: (@Sendable (ByteBuffer) -> Void)?
    /// The method's client metrics, recorded once when the call ends (every kind of call).
    private let metrics: GRPCCallMetrics
    private let startedAt: UInt64

    init(connection: HTTP2Connection, eventLoop: EventLoop, maxMessageSize: Int, inbox: MessageInbox,
         metrics: GRPCCallMetrics, startedAt: UInt64) {
        self.connection = connection
        self.metrics = metrics
        self.startedAt = startedAt
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
            complete(GRPCStatus(.unavailable, "the connection cannot take new calls"), .notStarted)
            return false
        }
        self.id = id
        if let timeoutNanos {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            deadlineTimer = eventLoop.scheduleTask(in: .nanoseconds(timeoutNanos)) {
                bound.value.cancel(with: GRPCStatus(.deadlineExceeded, "deadline exceeded"), cause: .deadlineExceeded)
            }
        }
        return true
    }

    func write(_ message: ByteBuffer, eventLoop: EventLoop) -> EventLoopFuture<Void> {
        if case .reject(let status) = machine.writing() { return eventLoop.makeFailedFuture(status) }
        guard let connection else { return eventLoop.makeFailedFuture(GRPCStatus(.cancelled, "the call has ended")) }
        if connection.sendData(stream: id, message) { return eventLoop.makeSucceededVoidFuture() }
        return writeWaiters.wait(on: eventLoop)
    }

    /// Switches to direct delivery: queued messages first, then each as it arrives.
    func receiveDirectly(_ handler: @escaping @Sendable (ByteBuffer) -> Void) {
        for message in inbox.drainQueued() { handler(message.bytes) }
        directHandler = handler
    }

    func halfClose() {
        guard machine.halfClosing() else { return }
        connection?.finishStream(stream: id, trailers: nil)
    }

    /// Ends the call here (cancel, deadline, a response it cannot read): RST_STREAM(CANCEL)
    /// tells the server.
    func cancel(with status: GRPCStatus, cause: CallEndCause = .cancelled) {
        guard !machine.isCompleted else { return }
        connection?.resetStream(stream: id, code: .cancel)
        complete(status, cause)
    }

    /// The one way a call ends: the status settles the outcome, the inbox and any
    /// waiting writers, once.
    private func complete(_ status: GRPCStatus, _ cause: CallEndCause, trailers: Metadata = Metadata()) {
        guard machine.complete(status, cause: cause) else { return }
        if id != 0 { metrics.record(status.code, startedAt: startedAt) } // unstarted: the client records it
        deadlineTimer?.cancel()
        deliverInitialMetadata(Metadata())
        inbox.finish(status)
        outcome.succeed((status, trailers, cause))
        writeWaiters.failAll(status.isOK ? GRPCStatus(.cancelled, "the call has ended") : status)
    }

    // MARK: HTTP2StreamHandler

    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {
        var head = ClientCallStateMachine.Head(endStream: endStream)
        if !machine.isCompleted {
            for header in headers {
                switch header.name {
                case ":status": head.httpStatus = Int(header.value)
                case "content-type": head.contentType = header.value
                case "grpc-encoding": head.encoding = header.value
                default: break
                }
            }
        }
        switch machine.receivedHeaders(head) {
        case .informational, .ignore:
            break
        case .responseHead(let encoding):
            deframer.encoding = encoding
            deliverInitialMetadata(Metadata(headers: headers))
        case .trailersOnly:
            deliverInitialMetadata(Metadata(headers: headers))
            settle(trailers: headers)
        case .trailers:
            settle(trailers: headers)
        case .fail(let status):
            connection?.resetStream(stream: id, code: .cancel)
            complete(status, .protocolError)
        }
    }

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
        complete(status, .serverStatus, trailers: Metadata(headers: trailers))
    }

    func streamReceivedData(_ data: UnsafeRawBufferPointer) {
        guard machine.acceptsData else {
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
            cancel(with: MessageDeframer.status(for: error), cause: .protocolError)
        }
    }

    func streamReceivedEndOfData() {
        // END_STREAM on DATA without trailers: the server broke the protocol.
        complete(GRPCStatus(.internal, "the server ended the response without trailers"), .protocolError)
    }

    func streamClosed(_ reason: HTTP2StreamCloseReason) {
        guard !machine.isCompleted else { return }
        switch reason {
        case .normal: complete(GRPCStatus(.internal, "the stream closed without a status"), .protocolError)
        case .reset(let code): complete(GRPCStatus.fromResetCode(code), .reset)
        case .connectionLost:
            let cause = connection?.closeError.map { ": \($0)" } ?? ""
            complete(GRPCStatus(.unavailable, "the connection to the server was lost" + cause), .connectionLost)
        }
    }

    func streamWritable() {
        writeWaiters.resumeAll()
    }
}
