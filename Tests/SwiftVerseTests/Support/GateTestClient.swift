import NIOConcurrencyHelpers
import VerseGateClient
import VerseGRPC
import VerseProtobuf

/// A gate client for tests: a `GateClient` whose pushes are read in the background
/// into a stream the test can wait on.
final class GateTestClient: Sendable {
    let gate: GateClient
    let pushes: AsyncThrowingStream<ProtoAny, Error>
    private let reader: Task<Void, Never>
    /// How many pushes arrived with the compressed flag.
    let compressedPushes: NIOLockedValueBox<Int>

    var grpc: GRPCClient { gate.grpc }
    var clientID: String { gate.clientID }

    private init(gate: GateClient, pushes: AsyncThrowingStream<ProtoAny, Error>, reader: Task<Void, Never>,
                 compressedPushes: NIOLockedValueBox<Int>) {
        self.gate = gate
        self.pushes = pushes
        self.reader = reader
        self.compressedPushes = compressedPushes
    }

    /// `acceptsCompression`: false sends no grpc-accept-encoding (pushes must come plain).
    static func connect(host: String = "127.0.0.1", port: Int, user: String? = "tester", password: String? = nil,
                        acceptsCompression: Bool = true) async throws -> GateTestClient {
        var configuration = GRPCClient.Configuration(host: host, port: port)
        if !acceptsCompression { configuration.acceptedCompression = [] }
        let grpc = try GRPCClient(configuration: configuration)
        let gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: user, password: password))
        let (pushes, continuation) = AsyncThrowingStream.makeStream(of: ProtoAny.self)
        let compressed = NIOLockedValueBox(0)
        let reader = Task { [compressed] in
            do {
                while let message = try await gate.registration.call.nextResponseMessage() {
                    if message.wasCompressed { compressed.withLockedValue { $0 += 1 } }
                    continuation.yield(try message.bytes.withUnsafeReadableBytes { try ProtoAny(serializedBytes: $0) })
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return GateTestClient(gate: gate, pushes: pushes, reader: reader, compressedPushes: compressed)
    }

    func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request,
        as: Response.Type = Response.self, clientID: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> Response {
        try await gate.call(type, id, method, request, clientID: clientID, timeout: timeout)
    }

    /// The next `count` pushes, decoded, or fails after `timeout`.
    func nextPushes<Message: ProtoMessage>(_ count: Int, as: Message.Type, timeout: Duration = .seconds(30)) async throws -> [Message] {
        let pushes = self.pushes
        return try await withThrowingTaskGroup(of: [Message].self) { group in
            group.addTask {
                var received: [Message] = []
                for try await push in pushes {
                    received.append(try push.unpack(Message.self))
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw GRPCStatus(.deadlineExceeded, "expected \(count) pushes within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    func close() async {
        gate.close()
        reader.cancel()
        await grpc.close()
    }
}
