import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import VerseGRPC

/// Where and how the gate serves HTTP (its API for browsers and the web client).
public struct HTTPGateConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Origins whose pages may call the API (CORS); nil: any origin.
    public var allowedOrigins: [String]?
    /// A folder of web files served at `/` (its index.html is the page); nil: none.
    public var webRoot: String?
    /// An event stream gets a `heartbeat` event this often.
    public var heartbeatInterval: Duration = .seconds(30)
    /// Largest request message (the decoded Any); the JSON body may be a third larger.
    public var maxRequestBytes = 4 << 20
    /// Serve HTTPS (h2 and HTTP/1.1 over TLS) with this certificate; nil: plain HTTP.
    public var tls: TLSConfiguration?
    /// What `GET /metrics` serves; nil: 404.
    public var metrics: MetricsEndpoint?
    /// An HTTP/1.1 connection waiting for a request (a new or kept-alive one, or one whose
    /// head arrives byte by byte: slowloris) is closed after this.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// A request whose body has not ended this long after its head is closed.
    public var requestTimeout: TimeAmount = .seconds(30)
    /// Connections served at once; one more gets 503 "too many connections" (HTTPS: is
    /// closed before its handshake). nil: no limit but the file descriptors.
    public var maxConnections: Int?

    public init(host: String, port: Int, allowedOrigins: [String]? = nil, webRoot: String? = nil) {
        self.host = host
        self.port = port
        self.allowedOrigins = allowedOrigins
        self.webRoot = webRoot
    }

    /// base64 is 4/3 of the bytes, plus the JSON around it.
    var maxBodyBytes: Int { maxRequestBytes / 3 * 4 + 4096 }
}

/// The gate's HTTP/1.1 listener (NIOHTTP1): routes each request to the gate's HTTP API.
final class HTTPGateServer: Sendable {
    private let gate: Gate?
    private let health: ProcessHealth
    private let clusterReport: @Sendable () async -> String
    private let configuration: HTTPGateConfiguration
    private let files: WebFiles
    private let tls: HTTPServerTLS?
    private let listener: NIOLockedValueBox<Channel?> = NIOLockedValueBox(nil)
    private let connections = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    private let connectionLimit: ConnectionLimit?
    private let logger: Logger

    /// `gate` nil: a node's port, with the operator endpoints only.
    init(gate: Gate?, health: ProcessHealth, clusterReport: @escaping @Sendable () async -> String,
         configuration: HTTPGateConfiguration, logger: Logger) throws {
        self.gate = gate
        self.health = health
        self.clusterReport = clusterReport
        self.configuration = configuration
        self.files = try configuration.webRoot.map { try WebFiles(folder: $0) } ?? .none
        self.tls = try configuration.tls.map { try HTTPServerTLS($0) }
        self.logger = logger
        connectionLimit = configuration.maxConnections.map {
            ConnectionLimit($0, flag: "--http-max-connections") { RuntimeMetrics.httpConnectionsRefused.increment() }
        }
    }

    /// HTTP/2 for browsers, tighter than gRPC's: a page needs a handful of streams (its
    /// files, its calls, one event stream), and a stranger should not get a thousand
    /// streams and 8 MiB of receive window per connection.
    static func browserHTTP2(idleTimeout: TimeAmount) -> HTTP2Settings {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 100
        settings.streamWindowSize = 256 << 10
        settings.connectionWindowSize = 1 << 20
        settings.maxQueuedBytesPerConnection = 8 << 20
        settings.idleTimeout = idleTimeout // as HTTP/1.1's keep-alive
        return settings
    }

    /// The bound port (the configured one, or the one the system chose for 0).
    var port: Int? { listener.withLockedValue { $0?.localAddress?.port } }

    func start(group: EventLoopGroup) async throws {
        let responder = HTTPGateResponder(gate: gate, health: health, clusterReport: clusterReport, configuration: configuration,
                                          files: files, logger: logger)
        let (tls, connections, maxBodyBytes, logger, limit) = (tls, connections, configuration.maxBodyBytes, logger, connectionLimit)
        let http2Settings = Self.browserHTTP2(idleTimeout: configuration.idleTimeout)
        let http1: @Sendable (Channel) throws -> Void = { channel in
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
            try channel.pipeline.syncOperations.addHandler(HTTPRequestErrorHandler())
            try channel.pipeline.syncOperations.addHandler(HTTPGateHandler(responder: responder))
        }
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in // out of file descriptors: pause accepting, do not spin
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptPause(logger: logger)) }
                }
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let limit, limit.isReached(open: connections.withLockedValue({ $0.count })) {
                            // A TLS client would need a whole handshake to read an answer.
                            return try limit.refuse(channel, answer: tls == nil ? ConnectionLimit.http1Answer : [], logger: logger)
                        }
                        if let tls {
                            // HTTPS: HTTP/2 when the client offers it (ALPN), else HTTP/1.1.
                            try tls.configure(channel, http1: http1, http2: { channel in
                                try HTTP2RequestServer.configure(channel, settings: http2Settings, maxBodyBytes: maxBodyBytes,
                                                                 handler: HTTP2GateRequests(responder: responder), logger: logger)
                            })
                        } else {
                            try http1(channel)
                        }
                        let id = ObjectIdentifier(channel)
                        RuntimeMetrics.httpConnections.record(connections.withLockedValue { $0[id] = channel; return $0.count })
                        channel.closeFuture.whenComplete { _ in
                            RuntimeMetrics.httpConnections.record(connections.withLockedValue { $0.removeValue(forKey: id); return $0.count })
                        }
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            throw VerseError(.unavailable, "cannot serve HTTP on \(configuration.host):\(configuration.port): \(error)")
        }
        listener.withLockedValue { $0 = channel }
        logger.info(tls == nil ? "serving HTTP" : "serving HTTPS", metadata: ["listen": "\(configuration.host):\(channel.localAddress?.port ?? configuration.port)",
                                               "web-client": "\(configuration.webRoot ?? "none")"])
    }

    /// Stops listening and closes every connection (event streams included).
    func stop() async {
        let channel = listener.withLockedValue { $0 }
        try? await channel?.close()
        for connection in connections.withLockedValue({ Array($0.values) }) { try? await connection.close() }
    }
}
