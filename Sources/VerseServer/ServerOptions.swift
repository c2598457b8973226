import ArgumentParser
import Foundation
import Logging
import VerseCLI
import VerseGRPC
import VerseRuntime

/// Flags every SwiftVerse server process shares (nodes, gates, embedded). Each can
/// also come from the environment variable named in its help.
public struct ClusterOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("etcd"), help: "etcd endpoint host:port (env SWIFTVERSE_ETCD).")
    public var etcd = ProcessInfo.processInfo.environment["SWIFTVERSE_ETCD"] ?? "127.0.0.1:2379"

    @Option(name: .customLong("etcd-prefix"), help: "Key prefix in etcd (env SWIFTVERSE_ETCD_PREFIX).")
    public var etcdPrefix = ProcessInfo.processInfo.environment["SWIFTVERSE_ETCD_PREFIX"] ?? "/swiftverse"

    @Option(name: .customLong("shards"), help: "Shard count; every process of a cluster must agree (env SWIFTVERSE_SHARDS).")
    public var shards = Int(ProcessInfo.processInfo.environment["SWIFTVERSE_SHARDS"] ?? "") ?? ShardID.defaultCount

    @Option(name: .customLong("lease-ttl"), help: "Membership lease TTL in seconds (how fast a dead member is noticed).")
    public var leaseTTL: Int64 = 2

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve TLS (with --tls-key; env SWIFTVERSE_TLS_CERT).")
    public var tlsCertificateFlag: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert (env SWIFTVERSE_TLS_KEY).")
    public var tlsKeyFlag: String?

    public var tlsCertificate: String? { tlsCertificateFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_TLS_CERT"] }
    public var tlsKey: String? { tlsKeyFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_TLS_KEY"] }

    @Option(name: .customLong("tls-ca"),
            help: "PEM CA certificates: reach other nodes over TLS, verifying theirs against these (for nodes run with --tls-cert; env SWIFTVERSE_TLS_CA).")
    public var tlsCAFlag: String?

    public var tlsCA: String? { tlsCAFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_TLS_CA"] }

    @Option(name: .customLong("etcd-ca"), help: "PEM CA certificates: reach etcd over TLS, verifying its certificate against these (env SWIFTVERSE_ETCD_CA).")
    public var etcdCAFlag: String?

    public var etcdCA: String? { etcdCAFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_ETCD_CA"] }

    @Option(name: .customLong("cluster-secret"),
            help: "Shared by a cluster's nodes and gates: nodes take NodeService calls only with it (env SWIFTVERSE_CLUSTER_SECRET).")
    public var clusterSecretFlag: String?

    public var clusterSecret: String? { clusterSecretFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_CLUSTER_SECRET"] }

    @Option(name: .customLong("max-queued-push-bytes"),
            help: "Gates: a client that leaves more than this many push bytes unread is disconnected.")
    public var maxQueuedPushBytes = 4 << 20

    @Option(name: .customLong("max-connection-queued-bytes"),
            help: "Unsent bytes all of one connection's streams may hold; past it its largest stream is cut off (the status a slow reader gets).")
    public var maxConnectionQueuedBytes = 16 << 20

    @Option(name: .customLong("max-queued-bytes"),
            help: "Unsent bytes all connections of the process may hold; past it the largest stream of the connection holding most is cut off, until under.")
    public var maxProcessQueuedBytes = 1 << 30

    @Option(name: .customLong("max-registrations-per-connection"),
            help: "Gates: Register streams one connection may hold open; one more is refused RESOURCE_EXHAUSTED.")
    public var maxRegistrationsPerConnection = 256

    @Option(name: .customLong("max-connections"),
            help: "Connections the gRPC port serves at once; one more is answered GOAWAY \"too many connections\" and closed (default: 3/4 of the open-file limit).")
    public var maxConnections: Int?

    @Option(name: .customLong("request-timeout"),
            help: "Seconds a unary or server-streaming call's request may take to end before the call ends DEADLINE_EXCEEDED (0: no limit).")
    public var requestTimeout: Int = 30

    @Option(name: .customLong("hpack-table-size"),
            help: "Bytes of HPACK dynamic table each client may fill in the server's memory (SETTINGS_HEADER_TABLE_SIZE; 0 to 65536). Smaller saves up to about 1 KiB per connected client; clients then send repeated headers in full.")
    public var hpackTableSize: UInt32 = HTTP2Settings().headerTableSize

    @Option(name: .customLong("push-compression"),
            help: "Gates: compress pushes with gzip or deflate for clients that accept it, or none (the default: one compression per push, shared by its recipients).")
    public var pushCompression: PushCompression = .none

    public enum PushCompression: String, ExpressibleByArgument, Sendable, CaseIterable {
        case none, gzip, deflate
        var encoding: GRPCCompression? { GRPCCompression(rawValue: rawValue) }
    }

    @Option(name: .customLong("store"),
            help: "Where durable objects keep their state: none, sqlite:PATH (env SWIFTVERSE_STORE; default: the program's).")
    public var storeFlag: String?

    public var store: String? { storeFlag ?? ProcessInfo.processInfo.environment["SWIFTVERSE_STORE"] }

    /// The store asked for, or `fallback` when none was.
    public func storeLocation(default fallback: StoreLocation) throws -> StoreLocation {
        try store.map(StoreLocation.init(parsing:)) ?? fallback
    }

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env SWIFTVERSE_LOG_LEVEL).")
    public var logLevel: Logger.Level = Logger.Level(rawValue: ProcessInfo.processInfo.environment["SWIFTVERSE_LOG_LEVEL"] ?? "") ?? .info

    @Option(name: .customLong("log-format"), help: "text, or json: one object per line (env SWIFTVERSE_LOG_FORMAT).")
    public var logFormat = ProcessLogging.Format(rawValue: ProcessInfo.processInfo.environment["SWIFTVERSE_LOG_FORMAT"] ?? "") ?? .text

    @Flag(name: .customLong("metrics"), inversion: .prefixedNo,
          help: "Record metrics and serve them at GET /metrics (--no-metrics: record none; /metrics answers 404).")
    public var metrics = true

    public init() {}

    public func validate() throws {
        if let store { _ = try StoreLocation(parsing: store) }
        guard shards > 0, shards <= 1 << 20 else { throw ValidationError("--shards must be between 1 and 1048576") }
        guard leaseTTL >= 1 else { throw ValidationError("--lease-ttl must be at least 1 second") }
        guard maxQueuedPushBytes >= 64 << 10 else { throw ValidationError("--max-queued-push-bytes must be at least 65536") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        guard maxConnectionQueuedBytes >= 64 << 10, maxProcessQueuedBytes >= maxConnectionQueuedBytes else {
            throw ValidationError("--max-connection-queued-bytes must be at least 65536, and --max-queued-bytes at least that")
        }
        guard maxRegistrationsPerConnection >= 1 else { throw ValidationError("--max-registrations-per-connection must be at least 1") }
        guard hpackTableSize <= 65536 else { throw ValidationError("--hpack-table-size must be 0 to 65536") }
        guard requestTimeout >= 0 else { throw ValidationError("--request-timeout must be 0 (none) or more seconds") }
        guard (tlsCertificate == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        for (flag, path) in [("--tls-ca", tlsCA), ("--etcd-ca", etcdCA)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) { throw ValidationError("\(flag): cannot read \(path)") }
        }
        _ = try HostPort(etcd, flag: "--etcd")
    }

    public func settings(embedded: Bool) -> ClusterSettings {
        var settings = ClusterSettings(coordination: embedded ? .embedded : .etcd(endpoint: etcd, prefix: etcdPrefix))
        settings.shardCount = shards
        settings.leaseTTL = leaseTTL
        settings.clusterSecret = ClusterSecret(clusterSecret)
        settings.nodeTLS = tlsCA.map { .client(trustRootsFile: $0) }
        settings.etcdTLS = etcdCA.map { .client(trustRootsFile: $0) }
        return settings
    }

    /// A gate configuration with this process's push limit.
    public func gate(advertise: String, authenticator: any Authenticator, policy: AccessPolicy) -> Gate.Configuration {
        var configuration = Gate.Configuration(advertiseAddress: advertise, authenticator: authenticator, policy: policy)
        configuration.maxQueuedPushBytes = maxQueuedPushBytes
        configuration.maxRegistrationsPerConnection = maxRegistrationsPerConnection
        configuration.pushCompression = pushCompression.encoding
        return configuration
    }

    /// The gRPC server configuration for `listen`.
    /// The gRPC server's configuration; logs the file-descriptor budget it implies.
    public func server(listen: HostPort, logger: Logger) -> GRPCServer.Configuration {
        var configuration = GRPCServer.Configuration(host: listen.host, port: listen.port)
        configuration.tls = serverTLS
        configuration.requestTimeout = requestTimeout > 0 ? .seconds(Int64(requestTimeout)) : nil
        configuration.http2.maxQueuedBytesPerConnection = maxConnectionQueuedBytes
        configuration.http2.headerTableSize = hpackTableSize
        QueuedDataBudget.process.limit = maxProcessQueuedBytes
        // Past the file descriptors, accepting only pauses: a quarter stays for etcd,
        // the store, the HTTP port and the nodes a gate reaches.
        let files = ProcessLimits.openFileLimit
        configuration.maxConnections = maxConnections ?? files.map { max(64, $0 * 3 / 4) }
        logger.info("open-file limit \(files.map(String.init) ?? "unlimited"); serving at most \(configuration.maxConnections.map(String.init) ?? "unlimited") gRPC connections")
        return configuration
    }

    /// The certificate this process serves with (--tls-cert and --tls-key), if any.
    public var serverTLS: TLSConfiguration? {
        guard let tlsCertificate, let tlsKey else { return nil }
        return .server(certificateChainFile: tlsCertificate, privateKeyFile: tlsKey)
    }
}

/// How a gate checks clients: `--auth password` (x-username + shared x-password) or
/// `--auth open` (any user name, no password).
public struct GateAuthOptions: ParsableArguments, Sendable {
    public enum Mode: String, ExpressibleByArgument, Sendable { case password, open }

    @Option(name: .customLong("auth"), help: "password or open.")
    public var mode: Mode = .password

    @Option(name: .customLong("password"), help: "The shared password for --auth password (env SWIFTVERSE_PASSWORD).")
    public var password = ProcessInfo.processInfo.environment["SWIFTVERSE_PASSWORD"] ?? "000000"

    public init() {}

    public var authenticator: any Authenticator {
        switch mode {
        case .password: SharedPasswordAuthenticator(password: password)
        case .open: OpenAuthenticator()
        }
    }
}

/// Where a process listens and the address others reach it at: flag, else environment
/// variable, else default. Each executable states its own default listen address.
public struct AddressOptions: ParsableArguments, Sendable {
    @Option(help: "Address to listen on, host:port (env SWIFTVERSE_LISTEN; default: see the overview).")
    public var listen: String?

    @Option(help: "Address others reach this process at; a gate's client ids start with it (env SWIFTVERSE_ADVERTISE; default: --listen).")
    public var advertise: String?

    public init() {}

    /// The validated listen address and the advertise address.
    public func resolve(defaultListen: String) throws -> (listen: HostPort, advertise: String) {
        let environment = ProcessInfo.processInfo.environment
        let listen = try HostPort(self.listen ?? environment["SWIFTVERSE_LISTEN"] ?? defaultListen, flag: "--listen")
        return (listen, advertise ?? environment["SWIFTVERSE_ADVERTISE"] ?? listen.description)
    }
}

/// `host:port`, validated.
public struct HostPort: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(_ text: String, flag: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port), colon != text.startIndex else {
            throw ValidationError("\(flag) expects host:port, got \"\(text)\"")
        }
        self.host = String(text[..<colon])
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// Starts `process`, serves until SIGINT/SIGTERM, then stops it gracefully.
/// `whileServing` runs once the process has started, and is cancelled at the signal.
public func serveUntilSignalled(_ process: ClusterProcess, logger: Logger,
                                whileServing: @escaping @Sendable () async -> Void = {}) async throws {
    TerminationSignal.arm() // before anything can report ready: a stop request then is kept
    try await process.start()
    let release = MemoryRelease.start(on: process.eventLoops)
    let work = Task { await whileServing() }
    let signal = await TerminationSignal.wait()
    logger.notice("\(signal): shutting down")
    work.cancel()
    for task in release { task.cancel() }
    await process.stop()
}
