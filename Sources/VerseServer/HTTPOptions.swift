import ArgumentParser
import VerseCLI
import VerseGRPC
import VerseRuntime

/// A gate's HTTP face for browsers: the HTTP API (Goverse's), event streams, and a web
/// client's files.
public struct GateHTTPOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("http-listen"),
            help: "host:port for HTTP (a gate: the API, the web client and the operator endpoints; a node: /metrics, /healthz, /ready, /cluster), or off (default: 127.0.0.1:8080 for a gate or --embedded, off for a node).")
    public var listenFlag: String?

    @Option(name: .customLong("http-allow-origin"),
            help: "An origin (scheme://host[:port]) whose pages may call the HTTP API (repeatable; none given: any).")
    public var allowOrigins: [String] = []

    @Option(name: .customLong("web-root"), help: "A folder of web files to serve at / (its index.html is the page).")
    public var webRoot: String?

    @Option(name: .customLong("http-idle-timeout"),
            help: "Seconds an HTTP connection may wait for its next request (HTTP/1.1 keep-alive; HTTPS h2 with no stream open) before it is closed.")
    public var idleTimeout = 60

    @Option(name: .customLong("http-max-connections"),
            help: "Connections the HTTP port serves at once; one more gets 503 \"too many connections\" (HTTPS: is closed) (default: 1/8 of the open-file limit).")
    public var maxConnections: Int?

    public init() {}

    public func validate() throws {
        if let listenFlag, listenFlag != "off" { _ = try HostPort(listenFlag, flag: "--http-listen") }
        guard idleTimeout >= 1 else { throw ValidationError("--http-idle-timeout must be at least 1 second") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--http-max-connections must be at least 1") }
        for origin in allowOrigins where !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) || origin.hasSuffix("/") {
            throw ValidationError("--http-allow-origin expects scheme://host[:port] with no path, got \"\(origin)\"")
        }
    }

    /// nil when HTTP is off. `defaultWebRoot`: the web client to serve without --web-root;
    /// `tls`: the process's certificate (--tls-cert), which makes the port HTTPS.
    public func configuration(defaultListen: String = "127.0.0.1:8080", defaultWebRoot: String? = nil, tls: TLSConfiguration? = nil,
                              metrics: MetricsEndpoint? = nil) throws -> HTTPGateConfiguration? {
        let listen = listenFlag ?? defaultListen
        guard listen != "off" else { return nil }
        let address = try HostPort(listen, flag: "--http-listen")
        var configuration = HTTPGateConfiguration(host: address.host, port: address.port,
                                                  allowedOrigins: allowOrigins.isEmpty ? nil : allowOrigins,
                                                  webRoot: webRoot ?? defaultWebRoot)
        configuration.tls = tls
        configuration.metrics = metrics
        configuration.idleTimeout = .seconds(Int64(idleTimeout))
        // The gRPC port takes 3/4 of the descriptors (ServerOptions); this one an eighth.
        configuration.maxConnections = maxConnections ?? ProcessLimits.openFileLimit.map { max(64, $0 / 8) }
        return configuration
    }
}
