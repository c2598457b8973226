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

    var grpc: GRPCClient { gate.grpc }
    var clientID: String { gate.clientID }

    private init(gate: GateClient, pushes: AsyncThrowingStream<ProtoAny, Error>, reader: Task<Void, Never>) {
        self.gate = gate
        self.pushes = pushes
        self.reader = reader
    }

    static func connect(port: Int, user: String? = "tester", password: String? = nil) async throws -> GateTestClient {
        let grpc = try GRPCClient(host: "127.0.0.1", port: port)
        let gate = try await GateClient.register(grpc, metadata: GateClient.credentials(user: user, password: password))
        let (pushes, continuation) = AsyncThrowingStream.makeStream(of: ProtoAny.self)
        let reader = Task {
            do {
                for try await push in gate.registration.responses { continuation.yield(push) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return GateTestClient(gate: gate, pushes: pushes, reader: reader)
    }

    func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request,
        as: Response.Type = Response.self, clientID: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> Response {
        try await gate.call(type, id, method, request, clientID: clientID, timeout: timeout)
    }

    /// The next `count` pushes, decoded, or fails after `timeout`.
    func nextPushes<Message: ProtoMessage>(_ count: Int, as: Message.Type, timeout: Duration = .seconds(5)) async throws -> [Message] {
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
