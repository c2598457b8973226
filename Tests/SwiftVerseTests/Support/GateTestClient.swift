import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// A client of gate.GateService as a real client would use it: one connection, a
/// Register stream for the client id and pushes, CallObject for calls.
final class GateTestClient: Sendable {
    let grpc: GRPCClient
    let clientID: String
    let pushes: AsyncThrowingStream<ProtoAny, Error>
    private let register: StreamingCall<Gate_Empty, ProtoAny>
    private let reader: Task<Void, Never>

    private init(grpc: GRPCClient, clientID: String, register: StreamingCall<Gate_Empty, ProtoAny>,
                 pushes: AsyncThrowingStream<ProtoAny, Error>, reader: Task<Void, Never>) {
        self.grpc = grpc
        self.clientID = clientID
        self.register = register
        self.pushes = pushes
        self.reader = reader
    }

    static func connect(port: Int, user: String? = "tester", password: String? = nil) async throws -> GateTestClient {
        let grpc = try GRPCClient(host: "127.0.0.1", port: port)
        var metadata = Metadata()
        if let user { metadata.add("x-username", user) }
        if let password { metadata.add("x-password", password) }
        let register: StreamingCall<Gate_Empty, ProtoAny> =
            try await grpc.serverStreaming("/gate.GateService/Register", request: Gate_Empty(), metadata: metadata)
        var responses = register.responses.makeAsyncIterator()
        guard let first = try await responses.next() else { throw GRPCStatus(.internal, "Register ended at once") }
        let clientID = try first.unpack(Gate_RegisterResponse.self).clientId
        let (pushes, continuation) = AsyncThrowingStream.makeStream(of: ProtoAny.self)
        let iterator = NIOLockedValueBox(responses)
        let reader = Task {
            var responses = iterator.withLockedValue { $0 }
            do {
                while let push = try await responses.next() { continuation.yield(push) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        return GateTestClient(grpc: grpc, clientID: clientID, register: register, pushes: pushes, reader: reader)
    }

    func call<Request: ProtoMessage, Response: ProtoMessage>(
        _ type: String, _ id: String, _ method: String, _ request: Request,
        as: Response.Type = Response.self, clientID: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> Response {
        var message = Gate_CallObjectRequest()
        message.clientId = clientID ?? self.clientID
        message.type = type
        message.id = id
        message.method = method
        message.request = ProtoAny(packing: request)
        let response: Gate_CallObjectResponse = try await grpc.unary("/gate.GateService/CallObject", request: message, timeout: timeout)
        return try (response.response ?? ProtoAny()).unpack(Response.self)
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
        register.cancel()
        reader.cancel()
        await grpc.close()
    }
}
