import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import VerseCodec

/// A gRPC client over one HTTP/2 connection (cleartext prior-knowledge or TLS + ALPN
/// h2). Many calls share the connection; it is opened on first use and opened again
/// after it is lost or the server sent GOAWAY.
public final class GRPCClient: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration?
        /// `:authority`; defaults to `host:port` (or the TLS name override).
        public var authority: String?
        public var http2 = HTTP2Settings()
        public var maxReceiveMessageSize = 4 << 20
        public var connectTimeout: TimeAmount = .seconds(10)
        /// The local IP address to connect from (nil: the kernel picks). A load generator
        /// spreads connections over several loopback addresses this way: each source
        /// address has its own ~28,000 ephemeral ports towards one server port.
        public var sourceAddress: String?
        public var userAgent = "swiftverse-grpc/0.1"
        /// How request messages are compressed (grpc-encoding), unless a call says
        /// otherwise; nil sends them uncompressed. Responses in any encoding this stack
        /// knows are accepted either way (grpc-accept-encoding).
        public var compression: GRPCCompression?
        /// The encodings this client tells servers it takes for responses
        /// (grpc-accept-encoding). Empty sends no such header: responses come uncompressed.
        public var acceptedCompression: [GRPCCompression] = GRPCCompression.allCases

        public init(host: String, port: Int, tls: TLSConfiguration? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
        }
    }

    public let configuration: Configuration
    private let group: EventLoopGroup
    private let logger: Logger
    private let tlsContext: TLSContext?
    private let current = NIOLockedValueBox<ClientConnection?>(nil)
    private let connectLock = NIOLockedValueBox<Task<ClientConnection, Error>?>(nil)

    public init(configuration: Configuration, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "swiftverse.grpc.client")) throws {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.tlsContext = try configuration.tls.map { try TLSContext(client: $0) }
    }

    public convenience init(host: String, port: Int, tls: TLSConfiguration? = nil) throws {
        try self.init(configuration: Configuration(host: host, port: port, tls: tls))
    }

    private var authority: String {
        configuration.authority ?? configuration.tls?.serverNameOverride ?? "\(configuration.host):\(configuration.port)"
    }

    /// Closes the connection; calls in flight end with UNAVAILABLE.
    public func close() async {
        let connection = current.withLockedValue { current -> ClientConnection? in
            defer { current = nil }
            return current
        }
        try? await connection?.channel.close()
    }

    /// Opens the connection now instead of on the first call.
    public func connect() async throws {
        _ = try await connection()
    }

    func connection() async throws -> ClientConnection {
        if let connection = current.withLockedValue({ $0 }), connection.isUsable { return connection }
        // One connection attempt at a time; concurrent callers share it.
        let task = connectLock.withLockedValue { pending -> Task<ClientConnection, Error> in
            if let pending { return pending }
            let task = Task { try await self.openConnection() }
            pending = task
            return task
        }
        defer { connectLock.withLockedValue { if $0 == task { $0 = nil } } }
        let connection = try await task.value
        current.withLockedValue { $0 = connection }
        return connection
    }

    private func openConnection() async throws -> ClientConnection {
        if let existing = current.withLockedValue({ $0 }), existing.isUsable { return existing }
        let tls = tlsContext
        let serverName = configuration.tls?.serverNameOverride ?? configuration.host
        let settings = configuration.http2
        let logger = self.logger
        var bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(configuration.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(TLSHandler(context: tls, role: .client, serverName: serverName))
                    }
                    let http2 = HTTP2Connection(role: .client, settings: settings, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(http2)
                }
            }
        if let source = configuration.sourceAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
            } catch {
                throw GRPCStatus(.invalidArgument, "source address \"\(source)\" is not an IP address")
            }
        }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw GRPCStatus(.unavailable, "cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        return try await channel.eventLoop.submit {
            let http2 = try channel.pipeline.syncOperations.handler(type: HTTP2Connection.self)
            let connection = ClientConnection(channel: channel, http2: http2)
            http2.delegate = connection
            return connection
        }.get()
    }

    // MARK: calls

    /// Starts a call. `timeout` sets the deadline, sent to the server as grpc-timeout
    /// and enforced here as well.
    /// `compression` overrides the configuration's for this call's request messages.
    public func makeCall(path: String, metadata: Metadata = Metadata(), timeout: Duration? = nil,
                         compression: GRPCCompression? = nil) async throws -> ClientCall {
        let encoding = compression ?? configuration.compression
        let timeoutNanos = timeout.map { duration -> Int64 in
            max(1, TimeAmount(duration).nanoseconds)
        }
        var headers = [
            HTTP2Header(":method", "POST"),
            HTTP2Header(":scheme", configuration.tls == nil ? "http" : "https"),
            HTTP2Header(":path", path),
            HTTP2Header(":authority", authority),
            HTTP2Header("content-type", "application/grpc"),
            HTTP2Header("te", "trailers"),
            HTTP2Header("user-agent", configuration.userAgent),
        ]
        if !configuration.acceptedCompression.isEmpty {
            let names = ["identity"] + configuration.acceptedCompression.map(\.rawValue)
            headers.append(HTTP2Header("grpc-accept-encoding", names.joined(separator: ",")))
        }
        if let encoding { headers.append(HTTP2Header("grpc-encoding", encoding.rawValue)) }
        if let timeoutNanos { headers.append(HTTP2Header("grpc-timeout", GRPCTimeout.format(nanoseconds: timeoutNanos))) }
        headers += metadata.headers
        let requestHead = headers

        let maxMessageSize = configuration.maxReceiveMessageSize
        let metrics = GRPCCallMetrics.client(path: path)
        let startedAt = NIODeadline.now().uptimeNanoseconds
        var lastProblem = ""
        for attempt in 0..<2 {
            let connection: ClientConnection
            do {
                connection = try await self.connection()
            } catch {
                // No stream to record it: the call failed before it began.
                metrics.record((error as? GRPCStatus)?.code ?? .unavailable, startedAt: startedAt)
                throw error
            }
            let eventLoop = connection.channel.eventLoop
            let allocator = connection.channel.allocator
            let http2 = connection.http2
            let started: Result<ClientCall, GRPCStatus> = try await eventLoop.submit { () -> Result<ClientCall, GRPCStatus> in
                // The stream id is known only after the request is submitted; the inbox
                // reaches it through this box rather than through the stream (no cycle).
                let streamID = NIOLoopBoundBox<Int32>(0, eventLoop: eventLoop)
                let inbox = MessageInbox(reportThreshold: Int(http2.value.settings.streamWindowSize) / 4) { consumed in
                    eventLoop.execute { http2.value.consume(stream: streamID.value, consumed) }
                }
                let stream = ClientStream(connection: http2.value, eventLoop: eventLoop, maxMessageSize: maxMessageSize,
                                          inbox: inbox, metrics: metrics, startedAt: startedAt)
                guard stream.start(headers: requestHead, timeoutNanos: timeoutNanos, eventLoop: eventLoop) else {
                    let cause = http2.value.closeError.map { ": \($0)" } ?? " (it was closing)"
                    return .failure(GRPCStatus(.unavailable, "the connection closed before the call could start\(cause)"))
                }
                streamID.value = stream.id
                return .success(ClientCall(path: path, eventLoop: eventLoop, allocator: allocator, stream: stream,
                                           requestEncoding: encoding))
            }.get()
            switch started {
            case .success(let call): return call
            case .failure(let status): lastProblem = status.message
            }
            // The connection was draining or closed: forget it and try a fresh one once.
            connection.markUnusable()
            if attempt == 1 { break }
        }
        metrics.record(.unavailable, startedAt: startedAt)
        throw GRPCStatus(.unavailable, "no usable connection to \(configuration.host):\(configuration.port): \(lastProblem)")
    }

    public func unaryCall<Request: WireMessage, Response: WireMessage>(
        _ path: String, request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: GRPCCompression? = nil, responseType: Response.Type = Response.self
    ) async throws -> UnaryResponse<Response> {
        let call = try await makeCall(path: path, metadata: metadata, timeout: timeout, compression: compression)
        try? await call.send(request) // a failed send shows up as the call's status
        call.finishSending()
        let typed = StreamingCall<Request, Response>(call: call)
        let message = try await typed.response()
        return UnaryResponse(message: message, initialMetadata: try await call.initialMetadata(),
                             trailingMetadata: await call.trailingMetadata())
    }

    public func unary<Request: WireMessage, Response: WireMessage>(
        _ path: String, request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: GRPCCompression? = nil, responseType: Response.Type = Response.self
    ) async throws -> Response {
        try await unaryCall(path, request: request, metadata: metadata, timeout: timeout, compression: compression,
                            responseType: Response.self).message
    }

    public func serverStreaming<Request: WireMessage, Response: WireMessage>(
        _ path: String, request: Request, metadata: Metadata = Metadata(), timeout: Duration? = nil,
        compression: GRPCCompression? = nil, responseType: Response.Type = Response.self
    ) async throws -> StreamingCall<Request, Response> {
        let call = try await makeCall(path: path, metadata: metadata, timeout: timeout, compression: compression)
        try? await call.send(request)
        call.finishSending()
        return StreamingCall(call: call)
    }

    /// Client-streaming and bidirectional calls: send, then `finishSending()`.
    public func streaming<Request: WireMessage, Response: WireMessage>(
        _ path: String, metadata: Metadata = Metadata(), timeout: Duration? = nil, compression: GRPCCompression? = nil,
        requestType: Request.Type = Request.self, responseType: Response.Type = Response.self
    ) async throws -> StreamingCall<Request, Response> {
        StreamingCall(call: try await makeCall(path: path, metadata: metadata, timeout: timeout, compression: compression))
    }
}

/// One HTTP/2 connection of a client.
final class ClientConnection: HTTP2ConnectionDelegate, @unchecked Sendable {
    // @unchecked: `usable` is a locked box; `http2` is loop-bound; `channel` is Sendable.
    let channel: Channel
    let http2: NIOLoopBound<HTTP2Connection>
    private let usable = NIOLockedValueBox(true)

    init(channel: Channel, http2: HTTP2Connection) {
        self.channel = channel
        self.http2 = NIOLoopBound(http2, eventLoop: channel.eventLoop)
    }

    var isUsable: Bool { usable.withLockedValue { $0 } && channel.isActive }

    func markUnusable() { usable.withLockedValue { $0 = false } }

    func connection(_ connection: HTTP2Connection, openedStream streamID: Int32, headers: HTTP2HeaderBlock,
                    endStream: Bool, oversizedHeaders: Int?) -> HTTP2StreamHandler? { nil }

    func connection(_ connection: HTTP2Connection, receivedGoAway lastStreamID: Int32, errorCode: UInt32) {
        markUnusable()
    }

    func connectionClosed(_ connection: HTTP2Connection) {
        markUnusable()
    }
}
