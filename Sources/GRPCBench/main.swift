import ArgumentParser
import Foundation
import GRPCInterop
import NIOConcurrencyHelpers
import VerseCLI
import VerseGRPC
import VerseProtobuf

/// Load generator for the transport benchmark: drives an interop-server with
/// SwiftVerse's own client and prints one result line.
@main
struct GRPCBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc-bench",
        abstract: "Unary calls/s or server-streaming messages/s against grpc.testing.TestService.")

    enum Mode: String, ExpressibleByArgument { case unary, streaming }

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port: Int
    @Option(help: "unary (UnaryCall) or streaming (StreamingOutputCall).") var mode: Mode = .unary
    @Option(help: "Connections (one client each).") var connections = 1
    @Option(help: "Calls in flight per connection.") var concurrency = 16
    @Option(help: "Unary: total calls. Streaming: total messages.") var count = 100_000
    @Option(help: "Response payload bytes.") var responseSize = 0
    @Option(help: "Streaming: messages per call.") var messagesPerCall = 1000

    func validate() throws {
        guard connections > 0, concurrency > 0, count > 0, responseSize >= 0, messagesPerCall > 0 else {
            throw ValidationError("--connections, --concurrency, --count and --messages-per-call must be positive")
        }
    }

    func run() throws {
        try BlockingMain.run { try await self.runBenchmark() }
    }

    func runBenchmark() async throws {
        let clients = try (0..<connections).map { _ in try GRPCClient(host: host, port: port) }
        for client in clients { try await client.connect() }
        let remaining = NIOLockedValueBox(count)
        let start = ContinuousClock.now
        let size = Int32(responseSize)
        let perCall = messagesPerCall
        let mode = self.mode
        try await withThrowingTaskGroup(of: Int.self) { group in
            for client in clients {
                for _ in 0..<concurrency {
                    group.addTask {
                        var done = 0
                        while true {
                            let quota = remaining.withLockedValue { left -> Int in
                                let take = min(left, mode == .unary ? 1 : perCall)
                                left -= take
                                return take
                            }
                            if quota == 0 { return done }
                            done += try await Self.exercise(client, mode: mode, messages: quota, size: size)
                        }
                    }
                }
            }
            var total = 0
            for try await done in group { total += done }
            let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - start).components.seconds)
            let unit = mode == .unary ? "calls" : "messages"
            print("grpc-bench \(mode.rawValue): \(total) \(unit) in \(String(format: "%.3f", seconds)) s = \(Int(Double(total) / seconds)) \(unit)/s")
        }
        for client in clients { await client.close() }
    }

    static func exercise(_ client: GRPCClient, mode: Mode, messages: Int, size: Int32) async throws -> Int {
        switch mode {
        case .unary:
            var request = Grpc_Testing_SimpleRequest()
            request.responseSize = size
            let _: Grpc_Testing_SimpleResponse = try await client.unary("/grpc.testing.TestService/UnaryCall", request: request)
            return 1
        case .streaming:
            var request = Grpc_Testing_StreamingOutputCallRequest()
            var parameters = Grpc_Testing_ResponseParameters()
            parameters.size = size
            request.responseParameters = Array(repeating: parameters, count: messages)
            let call: StreamingCall<Grpc_Testing_StreamingOutputCallRequest, Grpc_Testing_StreamingOutputCallResponse> =
                try await client.serverStreaming("/grpc.testing.TestService/StreamingOutputCall", request: request)
            var received = 0
            for try await _ in call.responses { received += 1 }
            return received
        }
    }
}
