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
        abstract: "A SwiftVerse node with test object types, for the runtime's tests.")

    @Option(help: "Address to listen on, host:port (env SWIFTVERSE_LISTEN; default 127.0.0.1:47001).")
    var listen: String?

    @Option(help: "Address others reach this process at (env SWIFTVERSE_ADVERTISE; default: --listen).")
    var advertise: String?

    var advertiseAddress: String? { address(advertise, env: "SWIFTVERSE_ADVERTISE", default: "").nonEmpty }

    @Flag(help: "Run node and gate in one process with no etcd; --listen is then the gate's address.")
    var embedded = false

    @OptionGroup var cluster: ClusterOptions

    func run() throws {
        ProcessLimits.raiseOpenFileLimit()
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: cluster.logLevel)
        let logger = Logger(label: "verse-testnode")
        let listen = try HostPort(address(self.listen, env: "SWIFTVERSE_LISTEN", default: "127.0.0.1:47001"), flag: "--listen")
        let advertise = advertiseAddress ?? listen.description
        let gate = cluster.gate(advertise: advertise, authenticator: OpenAuthenticator(), policy: TestObjects.policy)
        let process = try ClusterProcess.node(
            listen: cluster.server(listen: listen), advertise: advertise, objectTypes: TestObjects.all,
            settings: cluster.settings(embedded: embedded), gate: gate, logger: logger)
        try await serveUntilSignalled(process, logger: logger)
    }
}
