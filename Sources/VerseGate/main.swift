import ArgumentParser
import Logging
import VerseCLI
import VerseRuntime
import VerseServer

/// A SwiftVerse gate: serves gate.GateService to clients and routes their calls to
/// the nodes found through etcd.
@main
struct VerseGate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Serve gate.GateService to clients, routing calls to the cluster's nodes.",
        discussion: "Listens on 127.0.0.1:48000 unless --listen says otherwise.")

    @OptionGroup var addresses: AddressOptions

    @Option(name: .customLong("allow"), help: "Type/Method clients may call (repeatable; Type/* for all of a type). None given: everything.")
    var allow: [String] = []

    @Option(name: .customLong("allow-create"), help: "Object type clients may create and delete (repeatable).")
    var allowCreate: [String] = []

    @Option(name: .customLong("allow-public"), help: "Type/Method callable without a registered client (repeatable).")
    var allowPublic: [String] = []

    @OptionGroup var auth: GateAuthOptions
    @OptionGroup var http: GateHTTPOptions
    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        // The env var may be set for a whole cluster; the flag on a gate is a mistake.
        guard cluster.storeFlag == nil else { throw ValidationError("--store is for nodes: a gate hosts no objects") }
        for entry in allow + allowPublic where entry.split(separator: "/").count != 2 {
            throw ValidationError("--allow and --allow-public expect Type/Method, got \"\(entry)\"")
        }
    }

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: cluster.logLevel, format: cluster.logFormat)
        let metrics = ProcessMetrics.bootstrap(enabled: cluster.metrics)
        let logger = Logger(label: "gate")
        let (listen, advertise) = try addresses.resolve(defaultListen: "127.0.0.1:48000")
        let policy = AccessPolicy(calls: allow.isEmpty ? nil : Set(allow + allowPublic), creatable: Set(allowCreate),
                                  deletable: Set(allowCreate), publicCalls: Set(allowPublic))
        var configuration = cluster.gate(advertise: advertise,
                                         authenticator: auth.authenticator, policy: policy)
        configuration.http = try http.configuration(tls: cluster.serverTLS, metrics: metrics)
        let process = try ClusterProcess.gate(listen: cluster.server(listen: listen, logger: logger), configuration: configuration,
                                              settings: cluster.settings(embedded: false), logger: logger)
        try await serveUntilSignalled(process, logger: logger)
    }
}
