import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A gRPC server on nghttp2: cleartext HTTP/2 (prior knowledge) or TLS with ALPN h2.
public final class GRPCServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLSConfiguration?
        public var http2 = HTTP2Settings()
        /// Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED.
        public var maxReceiveMessageSize = 4 << 20
        /// Run handlers on their connection's event loop (no thread switch per call).
        /// Handlers must then never block; turn it off for handlers that do.
        public var runHandlersOnEventLoop = true
        /// A unary or server-streaming call whose request has not ended this long after
        /// its head ends DEADLINE_EXCEEDED (the request is one message: a client that
        /// never finishes it only holds memory). nil: wait forever.
        public var requestTimeout: TimeAmount? = .seconds(30)
        /// Connections served at once; one more is answered GOAWAY ENHANCE_YOUR_CALM
        /// "too many connections" and closed (see ConnectionRefusal). nil: no limit but
        /// the process's file descriptors (past those, accepting pauses for a second).
        public var maxConnections: Int? = nil

        public init(host: String = "127.0.0.1", port: Int, tls: TLSConfiguration? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
        }
    }

    public let configuration: Configuration
    /// Read by this file's ServerConnection.
    fileprivate let router: GRPCRouter
    private let group: EventLoopGroup
    private let logger: Logger
    private let listener: NIOLockedValueBox<Channel?> = NIOLockedValueBox(nil)
    fileprivate let connections = NIOLockedValueBox<[ObjectIdentifier: ServerConnection]>([:])

    private let connectionLimit: ConnectionLimit?
    /// configuration.http2, one copy for all the connections.
    private let http2Settings: SharedHTTP2Settings

    public init(configuration: Configuration, services: [GRPCService],
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "swiftverse.grpc.server")) {
        self.configuration = configuration
        self.router = GRPCRouter(services)
        self.http2Settings = SharedHTTP2Settings(configuration.http2)
        self.group = group
        self.logger = logger
        connectionLimit = configuration.maxConnections.map {
            ConnectionLimit($0, flag: "--max-connections") { HTTP2Metrics.connectionsRefused.increment() }
        }
    }

    /// The port actually bound (useful with port 0).
    public var localPort: Int? {
        listener.withLockedValue { $0?.localAddress?.port }
    }

    public func start() async throws {
        let tlsContext = try configuration.tls.map { try TLSContext(server: $0) }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Out of file descriptors (EMFILE, ENFILE), stop accepting for a second rather
            // than spin on the listening socket.
            .serverChannelInitializer { [logger] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptPause(logger: logger)) }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // NIO keeps each connection's receive buffer between reads, at the largest
            // size it has needed (it never shrinks). Starting small keeps idle
            // connections cheap (a chat gate holds thousands; a client's first reads,
            // its preface, SETTINGS and Register call, fit in 256 bytes); the allocator
            // doubles it with each full read when a connection gets busy.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.configure(channel, tls: tlsContext)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        listener.withLockedValue { $0 = channel }
        logger.info("gRPC server listening", metadata: [
            "address": "\(configuration.host):\(channel.localAddress?.port ?? configuration.port)",
            "tls": "\(configuration.tls != nil)",
            "max-connections": "\(configuration.maxConnections.map(String.init) ?? "none")",
        ])
    }

    /// Serves one cleartext connection on a channel the caller made. SPI: byte-level
    /// tests and the fuzz targets give it an EmbeddedChannel.
    @_spi(Fuzzing)
    public func serve(on channel: Channel) throws {
        try configure(channel, tls: nil)
    }

    /// Sets up one accepted connection (or its refusal, past `maxConnections`).
    func configure(_ channel: Channel, tls: TLSContext?) throws {
        if let tls {
            try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: tls, role: .server, serverName: nil))
        }
        if let connectionLimit, connectionLimit.isReached(open: connections.withLockedValue({ $0.count })) {
            return try connectionLimit.refuse(channel, answer: ConnectionRefusal.http2Answer, logger: logger)
        }
        let connection = HTTP2Connection(role: .server, settings: http2Settings, logger: logger)
        let delegate = ServerConnection(server: self, connection: connection, channel: channel)
        try channel.pipeline.syncOperations.addHandler(connection)
        // Once in the pipeline, which lets go of it at close: the two hold each other.
        connection.delegate = delegate
        // Leaves the table when the connection leaves the pipeline (connectionRemoved).
        connections.withLockedValue { $0[ObjectIdentifier(delegate)] = delegate }
    }

    /// Graceful shutdown: stop accepting, send GOAWAY on every connection, let in-flight
    /// calls finish for up to `grace`, then close whatever is left.
    public func shutdown(grace: TimeAmount = .seconds(5)) async {
        let listening = listener.withLockedValue { $0 }
        try? await listening?.close()
        let open = connections.withLockedValue { Array($0.values) }
        for connection in open { connection.startDraining() }
        let deadline = NIODeadline.now() + grace
        while NIODeadline.now() < deadline {
            if connections.withLockedValue({ $0.isEmpty }) { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for connection in connections.withLockedValue({ Array($0.values) }) { connection.close() }
    }

    /// Number of open client connections.
    public var connectionCount: Int { connections.withLockedValue { $0.count } }
}

/// Per-connection glue between an HTTP2Connection and the router: validates each new
/// stream's request head, answers protocol errors, and starts handlers.
final class ServerConnection: HTTP2ConnectionDelegate, @unchecked Sendable {
    // @unchecked: every mutable field is touched only on `channel.eventLoop`; the
    // server's connection table only calls the loop-hopping methods below.
    private let router: GRPCRouter
    /// The server's open connections, this one among them.
    private let table: NIOLockedValueBox<[ObjectIdentifier: ServerConnection]>
    private let maxReceiveMessageSize: Int
    private let connection: NIOLoopBound<HTTP2Connection>
    let channel: Channel
    // What every call needs from the channel, read once: each channel getter is a
    // protocol witness call with retains.
    private let eventLoop: EventLoop
    private lazy var remoteAddress: SocketAddress? = channel.remoteAddress
    private let executor: EventLoopTaskExecutor?
    private var lastRoute: GRPCRoute?
    private let requestTimeout: TimeAmount?
    /// Streams of this read batch still waiting for their request to end: timed only
    /// if they still wait when the batch ends (most requests end in the batch that
    /// began them, so most calls never arm a timer).
    /// The first of them held apart: a batch usually has one, and an array kept for
    /// the next batch would be 48 bytes per connection for its whole life.
    private var awaitingRequest: ServerStream?
    private var moreAwaitingRequest: [ServerStream] = []

    init(server: GRPCServer, connection: HTTP2Connection, channel: Channel) {
        self.router = server.router
        self.table = server.connections
        self.maxReceiveMessageSize = server.configuration.maxReceiveMessageSize
        self.requestTimeout = server.configuration.requestTimeout
        self.executor = server.configuration.runHandlersOnEventLoop ? EventLoopTaskExecutor(channel.eventLoop) : nil
        self.connection = NIOLoopBound(connection, eventLoop: channel.eventLoop)
        self.channel = channel
        self.eventLoop = channel.eventLoop
    }

    func startDraining() {
        let connection = self.connection
        channel.eventLoop.execute { connection.value.startDraining() }
    }

    func close() {
        channel.close(promise: nil)
    }

    func connectionFinishedReadBatch(_ connection: HTTP2Connection) {
        guard let first = awaitingRequest, let requestTimeout else { return }
        awaitingRequest = nil
        first.timeRequest(requestTimeout, on: eventLoop)
        guard !moreAwaitingRequest.isEmpty else { return }
        for stream in moreAwaitingRequest { stream.timeRequest(requestTimeout, on: eventLoop) }
        moreAwaitingRequest.removeAll(keepingCapacity: true)
    }

    func connection(_ connection: HTTP2Connection, openedStream streamID: Int32,
                    headers: HTTP2HeaderBlock, endStream: Bool, oversizedHeaders: Int?) -> HTTP2StreamHandler? {
        if let size = oversizedHeaders {
            return answer(connection, streamID, GRPCStatus(.resourceExhausted,
                "request header list of \(size) bytes exceeds the limit of \(connection.settings.maxHeaderListSize) bytes"))
        }
        // The request head is read as bytes: only the path and custom metadata become
        // Strings. Every header of every call passes here, so names are told apart by
        // first byte and length before any comparison.
        var isPost = false, grpcContentType = false, sawContentType = false
        var pathBytes: UnsafeRawBufferPointer?, timeout: (nanos: Int64?, text: String)?
        var encoding: GRPCCompression?, unknownEncoding: String?, accepted = AcceptedCompression.none
        var metadata = Metadata()
        var headersLeft = headers.count
        headers.forEach { name, value in
            defer { headersLeft -= 1 }
            switch (name.first, name.count) {
            case (UInt8(ascii: ":"), 7) where name.equals(":method"):
                isPost = value.equals("POST")
            case (UInt8(ascii: ":"), 5) where name.equals(":path"):
                pathBytes = value
            case (UInt8(ascii: "c"), 12) where name.equals("content-type"):
                sawContentType = true
                grpcContentType = value.equals("application/grpc") || value.hasPrefix("application/grpc+")
                    || value.hasPrefix("application/grpc;")
            case (UInt8(ascii: "g"), 13) where name.equals("grpc-encoding"):
                if let known = GRPCCompression(headerValue: value) {
                    encoding = known
                } else if !value.equals("identity") {
                    // Named in the answer, so cut to a length any status message can carry.
                    unknownEncoding = String(decoding: value.prefix(40), as: UTF8.self) + (value.count > 40 ? "..." : "")
                }
            case (UInt8(ascii: "g"), 20) where name.equals("grpc-accept-encoding"):
                accepted = AcceptedCompression(headerValue: value)
            case (UInt8(ascii: "g"), 12) where name.equals("grpc-timeout"):
                timeout = (GRPCTimeout.parse(value), String(decoding: value, as: UTF8.self))
            default:
                if !Metadata.isReserved(name) {
                    metadata.addReceived(name: connection.headerString(name), value: connection.headerString(value),
                                         isBinary: Metadata.isBinaryKey(name), expectedCount: headersLeft)
                }
            }
        }
        guard isPost else {
            connection.sendResponseHeaders(stream: streamID, headers: [HTTP2Header(":status", "405"), HTTP2Header("allow", "POST")], endStream: true)
            return nil
        }
        guard sawContentType, grpcContentType else {
            // gRPC spec: a non-gRPC content-type gets HTTP 415, not a gRPC status.
            connection.sendResponseHeaders(stream: streamID, headers: [HTTP2Header(":status", "415"), HTTP2Header("content-type", "text/plain")], endStream: true)
            return nil
        }
        if let unknownEncoding {
            return answer(connection, streamID,
                          GRPCStatus(.unimplemented, "grpc-encoding \"\(unknownEncoding)\" is not supported (supported: \(GRPCCompression.acceptEncodingValue))"),
                          extra: [HTTP2Header("grpc-accept-encoding", GRPCCompression.acceptEncodingValue)])
        }
        var timeoutNanos: Int64?
        if let timeout {
            guard let nanos = timeout.nanos else {
                return answer(connection, streamID, GRPCStatus(.internal, "malformed grpc-timeout \"\(timeout.text)\""))
            }
            timeoutNanos = nanos
        }
        let route: GRPCRoute
        switch self.route(pathBytes ?? UnsafeRawBufferPointer(start: nil, count: 0)) {
        case .success(let found): route = found
        case .failure(let status): return answer(connection, streamID, status)
        }
        let handler = route.handler

        let eventLoop = self.eventLoop
        let stream = ServerStream(connection: connection, id: streamID, maxMessageSize: maxReceiveMessageSize, requestEncoding: encoding)
        let boundConnection = self.connection
        var inbox: MessageInbox?
        if case .requestStream = handler {
            inbox = MessageInbox(reportThreshold: Int(connection.settings.streamWindowSize) / 4) { consumed in
                eventLoop.execute { boundConnection.value.consume(stream: streamID, consumed) }
            }
        }
        let call = ServerCall(
            path: route.path, requestMetadata: metadata,
            deadline: timeoutNanos.map { NIODeadline.now() + .nanoseconds($0) },
            remoteAddress: remoteAddress, connectionID: ObjectIdentifier(self),
            eventLoop: eventLoop, inbox: inbox, stream: stream,
            requestEncoding: encoding, acceptedEncodings: accepted)
        stream.metrics = route.metrics
        stream.start(call: call, handler: handler, timeoutNanos: timeoutNanos, eventLoop: eventLoop, executor: executor)
        if endStream {
            stream.streamReceivedEndOfData()
        } else if requestTimeout != nil, case .singleRequest = handler {
            if awaitingRequest == nil { awaitingRequest = stream } else { moreAwaitingRequest.append(stream) }
        }
        return stream
    }

    /// The route for a request path. A connection tends to call one method over and
    /// over: when the path's bytes match the last route found, it is reused (no String
    /// made, no hash). Routes are the router's, so a connection holds only a reference.
    private func route(_ pathBytes: UnsafeRawBufferPointer) -> Result<GRPCRoute, GRPCStatus> {
        if let last = lastRoute, last.matches(pathBytes) { return .success(last) }
        switch router.lookup(String(decoding: pathBytes, as: UTF8.self)) {
        case .found(let route):
            lastRoute = route
            return .success(route)
        case .unknownService(let name):
            return .failure(GRPCStatus(.unimplemented, "unknown service \(name)"))
        case .unknownMethod(let name, let service):
            return .failure(GRPCStatus(.unimplemented, "unknown method \(name) for service \(service)"))
        case .malformedPath(let bad):
            return .failure(GRPCStatus(.unimplemented, "malformed method path \"\(bad)\""))
        }
    }

    /// Trailers-Only answer for a stream that never reaches a handler.
    private func answer(_ connection: HTTP2Connection, _ streamID: Int32, _ status: GRPCStatus, extra: [HTTP2Header] = []) -> HTTP2StreamHandler? {
        connection.sendResponseHeaders(stream: streamID, headers: ServerStream.responseHead, extra, ServerStream.statusHeaders(status),
                                       endStream: true)
        return nil
    }

    func connection(_ connection: HTTP2Connection, receivedGoAway lastStreamID: Int32, errorCode: UInt32) {}

    func connectionClosed(_ connection: HTTP2Connection) {}

    /// Out of the server's table: a callback on the channel's close future instead
    /// would be two more allocations per connection for its whole life.
    func connectionRemoved(_ connection: HTTP2Connection) {
        let key = ObjectIdentifier(self)
        table.withLockedValue { _ = $0.removeValue(forKey: key) }
    }
}
