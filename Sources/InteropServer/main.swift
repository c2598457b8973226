import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import GRPCInterop
import Logging
import VerseCLI
import VerseGRPC

/// The gRPC interop test server (grpc.testing.TestService) on SwiftVerse's gRPC stack.
@main
struct InteropServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-server",
        abstract: "Serve grpc.testing.TestService for the standard gRPC interop test cases.")

    @Option(name: .customLong("port"), help: "Port to listen on (0 picks a free one).")
    var port: Int

    @Option(name: .customLong("host"), help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .customLong("use_tls"), help: "Serve TLS (--use_tls, --use_tls=true|false).")
    var useTLS = false

    @Option(name: .customLong("tls_cert_file"), help: "PEM certificate chain (with --use_tls).")
    var certificateFile: String?

    @Option(name: .customLong("tls_key_file"), help: "PEM private key (with --use_tls).")
    var keyFile: String?

    @Option(name: .customLong("max_receive_message_size"), help: "Largest request message in bytes.")
    var maxReceiveMessageSize = 4 << 20

    @Option(name: .customLong("log_level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .customLong("log-format"), help: "text, or json: one object per line.")
    var logFormat: ProcessLogging.Format = .text

    @Flag(name: .customLong("metrics"),
          help: "Record the gRPC metrics in a Prometheus registry, as servers of the runtime do (to measure their cost).")
    var metrics = false

    func validate() throws {
        if useTLS && (certificateFile == nil || keyFile == nil) {
            throw ValidationError("--use_tls needs --tls_cert_file and --tls_key_file")
        }
    }

    /// Bare boolean flags (`--use_tls`) as the reference interop binaries take them.
    static func main() {
        main(BooleanFlags.normalized(Array(CommandLine.arguments.dropFirst()), booleans: ["use_tls"]))
    }

    func run() throws {
        try BlockingMain.run { try await self.serve() }
    }

    func serve() async throws {
        ProcessLogging.bootstrap(level: logLevel, format: logFormat)
        if metrics { _ = PrometheusMetrics.bootstrap() }
        var configuration = GRPCServer.Configuration(host: host, port: port)
        if useTLS, let certificateFile, let keyFile {
            configuration.tls = .server(certificateChainFile: certificateFile, privateKeyFile: keyFile)
        }
        configuration.maxReceiveMessageSize = maxReceiveMessageSize
        let server = GRPCServer(configuration: configuration, services: [TestServiceServer.service()])
        TerminationSignal.arm() // before the port opens: a stop request from then on is kept
        try await server.start()
        // Scripts read this line to learn the port when --port 0 was given.
        print("interop-server listening on \(host):\(server.localPort ?? port)")
        fflush(nil) // flush stdout now: scripts wait for this line through a pipe
        let signal = await TerminationSignal.wait()
        Logger(label: "interop-server").info("\(signal): shutting down")
        await server.shutdown(grace: .seconds(5))
    }
}
