import ArgumentParser
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

    public init() {}

    public func validate() throws {
        if let listenFlag, listenFlag != "off" { _ = try HostPort(listenFlag, flag: "--http-listen") }
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
        return configuration
    }
}
