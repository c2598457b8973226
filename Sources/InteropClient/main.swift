import ArgumentParser
import GRPCInterop
import Logging
import VerseCLI
import VerseGRPC

/// The gRPC interop test client: runs one standard test case (or all) against a server.
@main
struct InteropClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-client",
        abstract: "Run a standard gRPC interop test case against a grpc.testing.TestService server.",
        discussion: """
            Test cases: \(InteropTestCases.known.joined(separator: ", ")); all (the standard ones), \
            all_noprobe (the same, with the client-compressed cases not probing the server first), \
            or names separated by commas.
            """)

    @Option(name: .customLong("server_host"), help: "Server host.")
    var serverHost = "127.0.0.1"

    @Option(name: .customLong("server_port"), help: "Server port.")
    var serverPort: Int

    @Option(name: .customLong("test_case"), help: "The test case(s) to run: a name, names separated by commas, all or all_noprobe.")
    var testCase: String

    @Option(name: .customLong("use_tls"), help: "Connect with TLS (--use_tls, --use_tls=true|false).")
    var useTLS = false

    @Option(name: .customLong("ca_file"), help: "PEM CA certificates to trust (TLS).")
    var caFile: String?

    @Option(name: .customLong("use_test_ca"), help: "Accepted for compatibility; use --ca_file to name the CA.")
    var useTestCA = false

    @Option(name: .customLong("server_host_override"), help: "Name for TLS verification and :authority.")
    var serverHostOverride: String?

    @Option(name: .customLong("log_level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .warning

    @Option(name: .customLong("log-format"), help: "text, or json: one object per line.")
    var logFormat: ProcessLogging.Format = .text

    /// `all`, `all_noprobe`, or case names separated by commas.
    var cases: [String] {
        testCase.split(separator: ",").flatMap { name -> [String] in
            switch name {
            case "all": InteropTestCases.all
            case "all_noprobe": InteropTestCases.allWithoutProbes
            default: [String(name)]
            }
        }
    }

    func validate() throws {
        for name in cases where !InteropTestCases.known.contains(name) {
            throw ValidationError("unknown test case \"\(name)\"; known: \(InteropTestCases.known.joined(separator: ", ")), all, all_noprobe")
        }
    }

    /// Bare boolean flags (`--use_tls`) as the reference interop binaries take them.
    static func main() {
        main(BooleanFlags.normalized(Array(CommandLine.arguments.dropFirst()), booleans: ["use_tls", "use_test_ca"]))
    }

    func run() throws {
        try BlockingMain.run { try await self.runTestCases() }
    }

    func runTestCases() async throws {
        ProcessLogging.bootstrap(level: logLevel, format: logFormat)
        var configuration = GRPCClient.Configuration(host: serverHost, port: serverPort)
        if useTLS {
            configuration.tls = .client(trustRootsFile: caFile, serverNameOverride: serverHostOverride)
        }
        if let serverHostOverride { configuration.authority = serverHostOverride }
        let client = try GRPCClient(configuration: configuration)
        var failed: [String] = []
        for name in cases {
            do {
                try await InteropTestCases.run(name, client: client)
                print("PASS \(name)")
            } catch {
                print("FAIL \(name): \(error)")
                failed.append(name)
            }
        }
        await client.close()
        if !failed.isEmpty { throw ExitCode.failure }
    }
}
