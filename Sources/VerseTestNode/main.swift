import ArgumentParser
import Logging
import VerseCLI
import VerseRuntime
import VerseServer
import VerseTestObjects

/// A node hosting the runtime's test object types (Counter, Echo, Channel, Scratch).
@main
struct VerseTestNode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verse-testnode",
        abstract: "A SwiftVerse node with test object types, for the runtime's tests.",
        discussion: "Listens on 127.0.0.1:47001 unless --listen says otherwise.")

    @OptionGroup var addresses: AddressOptions

    @Flag(help: "Run node and gate in one process with no etcd; --listen is then the gate's address.")
    var embedded = false

    @OptionGroup(title: "HTTP (operators: metrics and health; off unless asked)") var http: GateHTTPOptions
    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: cluster.logLevel, format: cluster.logFormat)
        let metrics = ProcessMetrics.bootstrap(enabled: cluster.metrics)
        let logger = Logger(label: "verse-testnode")
        let (listen, advertise) = try addresses.resolve(defaultListen: "127.0.0.1:47001")
        var gate = cluster.gate(advertise: advertise, authenticator: OpenAuthenticator(), policy: TestObjects.policy)
        let operatorHTTP = try http.configuration(defaultListen: "off", tls: cluster.serverTLS, metrics: metrics)
        var settings = cluster.settings(embedded: embedded)
        if embedded { gate.http = operatorHTTP } else { settings.operatorHTTP = operatorHTTP }
        settings.store = try await cluster.storeLocation(default: .none).open(logger: logger)
        let process = try ClusterProcess.node(
            listen: cluster.server(listen: listen, logger: logger), advertise: advertise, objectTypes: TestObjects.all,
            settings: settings, gate: gate, logger: logger)
        try await serveUntilSignalled(process, logger: logger)
    }
}
