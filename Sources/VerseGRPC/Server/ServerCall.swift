import NIOCore
import Synchronization
import VerseCodec

/// One incoming call as its handler task sees it. Every operation hops to the
/// connection's event loop; nothing here blocks an event loop.
public final class ServerCall: Sendable {
    /// `/package.Service/Method`
    public let path: String
    public let requestMetadata: Metadata
    /// When the client's `grpc-timeout` runs out, if it sent one.
    public let deadline: NIODeadline?
    /// The peer's socket address.
    public let remoteAddress: SocketAddress?
    /// The peer's address as text, e.g. `[IPv4]127.0.0.1/127.0.0.1:54321` (made on demand).
    public var peer: String { remoteAddress.map { "\($0)" } ?? "unknown" }
    /// The event loop of the call's connection.
    public let eventLoop: EventLoop
    /// Identifies the HTTP/2 connection the call arrived on: calls on one connection
    /// share it (the gate binds client sessions to their connection with it).
    public let connectionID: ObjectIdentifier
    /// For response buffers: the default allocator, which is what the server's channels
    /// use too. Made on demand (four function pointers), not stored: a long-lived call
    /// (a client's push stream) would keep 32 bytes for it.
    @usableFromInline var allocator: ByteBufferAllocator { ByteBufferAllocator() }
    /// Request messages for methods that read a stream of them; single-request methods
    /// get their message directly and need none.
    let inbox: MessageInbox?
    private let stream: NIOLoopBound<ServerStream>
    /// How the client encodes request messages it marks compressed (its grpc-encoding).
    public let requestEncoding: GRPCCompression?
    /// What the client accepts for responses (its grpc-accept-encoding).
    public let acceptedEncodings: AcceptedCompression
    /// What the handler adds and how the call ended; one lock for all of it.
    private struct Mutable {
        var initial = Metadata()
        var trailing = Metadata()
        /// What the peer had left unread when it was cut off.
        var cutOffBacklog = 0
        /// What runs when the call ends (`keepOpen`'s action, `waitUntilEnded`'s wake-up).
        /// Most calls that register one register only that: it is held without an array
        /// (48 bytes for as long as a push stream stays open).
        var endAction: (@Sendable (ServerCall) -> Void)?
        var laterEndActions: [@Sendable (ServerCall) -> Void] = []
        var cutOff = false // last: among the wider fields it would take a word
    }
    /// Every call ends, few calls watch for it: `markEnded` takes the lock only when
    /// something was registered with `whenEnded` (both flags sequentially consistent,
    /// so neither side can miss the other).
    private let ended = Atomic<Bool>(false)
    private let endAwaited = Atomic<Bool>(false)
    /// The handler handed the call over (`keepOpen`): its return does not end the call.
    private let keptOpen = Atomic<Bool>(false)
    /// How response messages are compressed: 0 not at all, else a GRPCCompression's
    /// code. An atomic so that every send reads it without the lock.
    private let responseEncodingCode = Atomic<UInt8>(0)
    private let requestCompressed = Atomic<Bool>(false)
    /// Inline (a Mutex is stored in the object): no separate allocation per call.
    private let mutable = Mutex(Mutable())

    init(path: String, requestMetadata: Metadata, deadline: NIODeadline?, remoteAddress: SocketAddress?,
         connectionID: ObjectIdentifier, eventLoop: EventLoop, inbox: MessageInbox?,
         stream: ServerStream, requestEncoding: GRPCCompression? = nil, acceptedEncodings: AcceptedCompression = .none) {
        self.requestEncoding = requestEncoding
        self.acceptedEncodings = acceptedEncodings
        self.connectionID = connectionID
        self.path = path
        self.requestMetadata = requestMetadata
        self.deadline = deadline
        self.remoteAddress = remoteAddress
        self.eventLoop = eventLoop
        self.inbox = inbox
        self.stream = NIOLoopBound(stream, eventLoop: eventLoop)
    }

    /// Metadata for the response headers; only effective before the first message.
    public func addInitialMetadata(_ metadata: Metadata) {
        mutable.withLock { $0.initial.append(contentsOf: metadata) }
    }

    /// Metadata sent in the trailers with the status.
    public func addTrailingMetadata(_ metadata: Metadata) {
        mutable.withLock { $0.trailing.append(contentsOf: metadata) }
    }

    var initialMetadata: Metadata { mutable.withLock { $0.initial } }
    var trailingMetadata: Metadata { mutable.withLock { $0.trailing } }

    /// The next request message's bytes, nil after the client half-closed. Throws the
    /// call's status if it failed (cancelled, deadline, bad framing).
    public func nextRequest() async throws -> ByteBuffer? {
        try await inbox?.next()?.bytes
    }

    /// The next request message with how it arrived (compressed or not).
    public func nextRequestMessage() async throws -> ReceivedMessage? {
        try await inbox?.next()
    }

    /// Single-request methods (unary, server streaming): the request message arrived
    /// compressed.
    /// (Set before the handler starts, which orders it before any read.)
    public var requestWasCompressed: Bool { requestCompressed.load(ordering: .relaxed) }

    func markRequestCompressed() { requestCompressed.store(true, ordering: .relaxed) }

    /// Compresses the response messages sent from now on with `encoding`, if the client
    /// accepts it (its grpc-accept-encoding); returns whether it does. Takes effect for
    /// the response headers (grpc-encoding) only before the first message is sent.
    @discardableResult
    public func compressResponses(with encoding: GRPCCompression?) -> Bool {
        guard let encoding, acceptedEncodings.contains(encoding) else {
            responseEncodingCode.store(0, ordering: .relaxed)
            return encoding == nil
        }
        responseEncodingCode.store(encoding.code, ordering: .relaxed)
        return true
    }

    /// The encoding response messages are compressed with, if any.
    @usableFromInline
    var responseEncoding: GRPCCompression? {
        GRPCCompression(code: responseEncodingCode.load(ordering: .relaxed))
    }

    /// Sends an already framed message. Suspends while the stream's outbound queue is
    /// over its high watermark (the client is not reading fast enough).
    public func send(framed message: ByteBuffer) async throws {
        let stream = self.stream
        let eventLoop = self.eventLoop
        if eventLoop.inEventLoop {
            // Handlers on the event loop: no hop, and no suspension unless blocked.
            switch stream.value.write(message, on: eventLoop) {
            case .accepted: return
            case .wait(let writable): try await writable.get()
            case .failed(let status): throw status
            }
        } else {
            try await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
                switch stream.value.write(message, on: eventLoop) {
                case .accepted: eventLoop.makeSucceededVoidFuture()
                case .wait(let writable): writable
                case .failed(let status): eventLoop.makeFailedFuture(status)
                }
            }.get()
        }
    }

    /// Queues a handler's final message (a unary or client-streaming response) when
    /// called on the event loop, without waiting for the peer to drain it: only the
    /// trailers follow, and they queue behind it anyway. Returns false elsewhere (the
    /// caller then uses `send(framed:)`). Synchronous, so the typed helpers' common path
    /// has no await (each costs an async frame and an executor check).
    @usableFromInline
    func queueFinalMessage(_ message: ByteBuffer) throws -> Bool {
        guard eventLoop.inEventLoop else { return false }
        if case .failed(let status) = stream.value.write(message, on: eventLoop) { throw status }
        return true
    }

    // Inlinable (as the typed handler helpers in GRPCService): the message type is
    // known in the calling module, so encoding is specialized there instead of going
    // through generic witness calls on every message.
    /// Sends a message, compressed when `compressResponses(with:)` chose an encoding
    /// unless `compress` is false (a message that would not shrink, or a test that
    /// asks for an uncompressed one).
    @inlinable
    public func send<M: WireMessage>(_ message: M, compress: Bool = true) async throws {
        try await send(framed: MessageFramer.frame(message.wireEncoding(), allocator: allocator,
                                                   compression: compress ? responseEncoding : nil))
    }

    /// Suspends until the call ends: the peer cancels or goes away, the deadline passes,
    /// the peer is cut off, or the call is finished. For handlers of long-lived streams
    /// whose messages are written from elsewhere (`writeOnEventLoop`) that want to keep
    /// their task; `keepOpen` needs none. Throws CancellationError when it returns
    /// because the handler's task was cancelled.
    public func waitUntilEnded() async throws {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                whenEnded { _ in continuation.resume() }
            }
        } onCancel: {
            markEnded()
        }
        try Task.checkCancellation()
    }

    /// Keeps the call open after the handler returns: for a long-lived stream that code
    /// on the event loop writes to (`writeOnEventLoop`) and ends (`finishOnEventLoop`),
    /// or that ends when the peer goes away. `onEnd` runs once when the call ends, on
    /// whatever thread ends it, and gets the call (so it need not capture it). Unlike
    /// `waitUntilEnded`, no task stays parked for the life of the stream: an idle stream
    /// costs only its state.
    public func keepOpen(onEnd: @escaping @Sendable (ServerCall) -> Void) {
        keptOpen.store(true, ordering: .sequentiallyConsistent)
        whenEnded(onEnd)
    }

    /// The handler returned normally: ends the call unless it was kept open.
    var endsWhenHandlerReturns: Bool { !keptOpen.load(ordering: .sequentiallyConsistent) }

    /// Runs `action` once the call has ended: now if it already has.
    private func whenEnded(_ action: @escaping @Sendable (ServerCall) -> Void) {
        endAwaited.store(true, ordering: .sequentiallyConsistent)
        let endedAlready = mutable.withLock { state -> Bool in
            if ended.load(ordering: .sequentiallyConsistent) { return true }
            if state.endAction == nil { state.endAction = action } else { state.laterEndActions.append(action) }
            return false
        }
        if endedAlready { action(self) }
    }

    /// The call is over: runs what `whenEnded` registered.
    func markEnded() {
        ended.store(true, ordering: .sequentiallyConsistent)
        guard endAwaited.load(ordering: .sequentiallyConsistent) else { return }
        let (first, later) = mutable.withLock { state in
            defer { state.endAction = nil; state.laterEndActions = [] }
            return (state.endAction, state.laterEndActions)
        }
        first?(self)
        for action in later { action(self) }
    }

    /// The call was ended because its peer stopped reading (see `writeOnEventLoop`).
    public var wasCutOff: Bool { mutable.withLock { $0.cutOff } }

    /// The bytes it had left unread when it was cut off (0 if it was not).
    public var cutOffBacklog: Int { mutable.withLock { $0.cutOffBacklog } }

    func markCutOff(backlog: Int) {
        mutable.withLock { state in
            state.cutOff = true
            state.cutOffBacklog = backlog
        }
    }

    /// Sends the response headers now, before any message (a long-lived stream's
    /// peer then knows the call was accepted).
    public func sendInitialMetadata() async {
        let stream = self.stream
        try? await eventLoop.submit { stream.value.sendHeadersNow() }.get()
    }

    /// The outcome of a write made directly on the event loop.
    public enum ImmediateWrite: Sendable, Equatable {
        case queued
        /// The call had already ended.
        case callEnded
        /// The peer left more than the allowed bytes unread: the call was ended with
        /// RESOURCE_EXHAUSTED instead of buffering without bound.
        case peerTooSlow
    }

    /// How much a fan-out stream may fall behind before its peer is cut off.
    public struct BacklogLimit: Sendable {
        /// Unsent bytes the peer may leave behind for up to `grace`...
        public var bytes: Int
        public var grace: TimeAmount
        /// ...and never more than this, however briefly.
        public var hardBytes: Int

        public init(bytes: Int, grace: TimeAmount = .seconds(2), hardBytes: Int? = nil) {
            self.bytes = bytes
            self.grace = grace
            self.hardBytes = hardBytes ?? bytes * 16
        }
    }

    /// Queues a shared message without suspending, for fan-out code that already runs
    /// on `eventLoop` (it must). A burst may exceed `limit.bytes` briefly; a peer whose
    /// backlog stays over it for `limit.grace` (or passes `limit.hardBytes`) is cut off.
    public func writeOnEventLoop(_ message: SharedMessage, limit: BacklogLimit) -> ImmediateWrite {
        eventLoop.preconditionInEventLoop()
        return stream.value.writeImmediately(message.framed(for: responseEncoding), limit: limit)
    }

    /// Ends the call now with `status`, from the event loop.
    public func finishOnEventLoop(_ status: GRPCStatus) {
        eventLoop.preconditionInEventLoop()
        stream.value.finish(status)
    }

    /// Ends the call with `status` (and any trailing metadata added).
    func finish(_ status: GRPCStatus) {
        let stream = self.stream
        if eventLoop.inEventLoop {
            stream.value.finish(status)
        } else {
            eventLoop.execute { stream.value.finish(status) }
        }
    }
}

/// What a typed handler sees of its call besides the messages.
public struct ServerContext: Sendable {
    public let call: ServerCall

    @usableFromInline init(call: ServerCall) { self.call = call }

    public var requestMetadata: Metadata { call.requestMetadata }
    public var deadline: NIODeadline? { call.deadline }
    public var peer: String { call.peer }
    public var path: String { call.path }

    public func addInitialMetadata(_ metadata: Metadata) { call.addInitialMetadata(metadata) }
    public func addTrailingMetadata(_ metadata: Metadata) { call.addTrailingMetadata(metadata) }
}

/// Incoming request messages, decoded with protobuf-c as they are read.
public struct RequestStream<Message: WireMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    let call: ServerCall

    @usableFromInline init(call: ServerCall) { self.call = call }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: ServerCall
        public mutating func next() async throws -> Message? {
            guard let bytes = try await call.nextRequest() else { return nil }
            return try decodeMessage(Message.self, from: bytes, role: "request")
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(call: call) }
}

/// Outgoing response messages.
public struct ResponseWriter<Message: WireMessage>: Sendable {
    @usableFromInline let call: ServerCall

    @usableFromInline init(call: ServerCall) { self.call = call }

    @inlinable
    public func send(_ message: Message, compress: Bool = true) async throws {
        try await call.send(message, compress: compress)
    }
}

/// Decodes a received message; a malformed one ends the call with INTERNAL, as other
/// gRPC implementations do for unparsable messages.
@inlinable
func decodeMessage<M: WireMessage>(_ type: M.Type, from bytes: ByteBuffer, role: String) throws -> M {
    do {
        return try bytes.withUnsafeReadableBytes { try M(wireBytes: $0) }
    } catch {
        throw GRPCStatus(.internal, "could not decode \(role) message as \(M.wireName) (\(bytes.readableBytes) bytes)")
    }
}
