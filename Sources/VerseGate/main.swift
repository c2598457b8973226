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
        abstract: "Serve gate.GateService to clients, routing calls to the cluster's nodes.")

    @Option(help: "Address to listen on for clients, host:port (env SWIFTVERSE_LISTEN; default 127.0.0.1:48000).")
    var listen: String?

    @Option(help: "Address clients reach this gate at; the prefix of its client ids (env SWIFTVERSE_ADVERTISE; default: --listen).")
    var advertise: String?

    var advertiseAddress: String? { address(advertise, env: "SWIFTVERSE_ADVERTISE", default: "").nonEmpty }

    @Option(name: .customLong("allow"), help: "Type/Method clients may call (repeatable; Type/* for all of a type). None given: everything.")
    var allow: [String] = []

    @Option(name: .customLong("allow-create"), help: "Object type clients may create and delete (repeatable).")
    var allowCreate: [String] = []

    @Option(name: .customLong("allow-public"), help: "Type/Method callable without a registered client (repeatable).")
    var allowPublic: [String] = []

    @OptionGroup var auth: GateAuthOptions
    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        for entry in allow + allowPublic where entry.split(separator: "/").count != 2 {
            throw ValidationError("--allow and --allow-public expect Type/Method, got \"\(entry)\"")
        }
    }

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: cluster.logLevel)
        let logger = Logger(label: "gate")
        let listen = try HostPort(address(self.listen, env: "SWIFTVERSE_LISTEN", default: "127.0.0.1:48000"), flag: "--listen")
        let policy = AccessPolicy(calls: allow.isEmpty ? nil : Set(allow + allowPublic), creatable: Set(allowCreate),
                                  deletable: Set(allowCreate), publicCalls: Set(allowPublic))
        let configuration = cluster.gate(advertise: advertiseAddress ?? listen.description,
                                         authenticator: auth.authenticator, policy: policy)
        let process = try ClusterProcess.gate(listen: cluster.server(listen: listen), configuration: configuration,
                                              settings: cluster.settings(embedded: false), logger: logger)
        try await serveUntilSignalled(process, logger: logger)
    }
}
