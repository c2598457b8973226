import Testing
import VerseGateClient
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects

/// Every string a client sends is length-checked before use, and no error quotes more
/// than a short start of it: a stranger cannot make an answer too large to deliver.
@Suite("hardening: client input in answers", .serialized)
struct ClientInputTests {
    static let huge = String(repeating: "q", count: 100_000)

    /// A raw CallObject with any fields, and the status it ended with.
    static func callStatus(_ grpc: GRPCClient, type: String = "Counter", id: String = "c1", method: String = "Add",
                           typeURL: String? = nil, clientID: String = "") async -> GRPCStatus {
        var request = Gate_CallObjectRequest()
        request.type = type
        request.id = id
        request.method = method
        request.clientId = clientID
        var payload = ProtoAny(packing: Verse_Test_CounterRequest())
        if let typeURL { payload.typeUrl = typeURL }
        request.request = payload
        do {
            let _: Gate_CallObjectResponse = try await grpc.unary("/gate.GateService/CallObject", request: request,
                                                                   timeout: .seconds(10))
            return GRPCStatus(.ok, "")
        } catch let status as GRPCStatus {
            return status
        } catch {
            return GRPCStatus(.unknown, "\(error)")
        }
    }

    @Test func oversizedFieldsAreRefusedByTheirSizeAlone() async throws {
        try await RuntimeEmbeddedTests.withEmbedded { _, port in
            let client = try await GateTestClient.connect(port: port)
            let me = client.clientID
            let cases: [(String, GRPCStatus)] = [
                ("type", await Self.callStatus(client.grpc, type: Self.huge, clientID: me)),
                ("method", await Self.callStatus(client.grpc, method: Self.huge, clientID: me)),
                ("id", await Self.callStatus(client.grpc, id: Self.huge, clientID: me)),
                ("client id", await Self.callStatus(client.grpc, clientID: Self.huge)),
                ("type URL", await Self.callStatus(client.grpc, typeURL: "type.googleapis.com/" + Self.huge, clientID: me)),
            ]
            for (field, status) in cases {
                #expect(status.code == .invalidArgument, "\(field): \(status)")
                #expect(status.message.contains("bytes exceeds"), "\(field): \(status.message.prefix(200))")
                #expect(status.message.utf8.count < 100, "\(field): \(status.message.utf8.count) bytes of message")
            }
            // The connection carries on: a thousand of them, then a proper call.
            for _ in 0..<1000 { _ = await Self.callStatus(client.grpc, type: Self.huge) }
            let counted: Verse_Test_CounterResponse = try await client.call("Counter", "c1", "Add", RuntimeEmbeddedTests.add(3))
            #expect(counted.value == 3)
            await client.close()
        }
    }

    @Test func valuesUnderTheLimitsAreQuotedBriefly() async throws {
        try await RuntimeEmbeddedTests.withEmbedded { _, port in
            let client = try await GateTestClient.connect(port: port)
            let long = String(repeating: "w", count: 120) // under the 128-byte limit for names
            let unknownType = await Self.callStatus(client.grpc, type: long)
            #expect(unknownType.code == .notFound)
            #expect(unknownType.message == "unknown object type \"\(String(repeating: "w", count: 40))... (120 bytes)\"")
            let unknownClient = await Self.callStatus(client.grpc, clientID: String(repeating: "z", count: 200))
            #expect(unknownClient.code == .notFound && unknownClient.message.filter { $0 == "z" }.count == 40, "\(unknownClient)")
            let wrongURL = await Self.callStatus(client.grpc, typeURL: "type.googleapis.com/" + String(repeating: "u", count: 400),
                                                 clientID: client.clientID)
            #expect(wrongURL.code == .invalidArgument && wrongURL.message.filter { $0 == "u" }.count <= 96, "\(wrongURL)")
            await client.close()
        }
    }

    @Test func briefKeepsWholeCharacters() {
        #expect(ClientInput.brief("short") == "short")
        let emoji = String(repeating: "\u{1F600}", count: 20) // 4 bytes each: 80 bytes
        #expect(ClientInput.brief(emoji) == String(repeating: "\u{1F600}", count: 10) + "... (80 bytes)")
        #expect("héllo".prefix(utf8Bytes: 2) == "h") // é is two bytes: not cut in half
    }

    /// Whatever a handler puts in a status message, what goes on the wire fits the peer.
    @Test func aHugeStatusMessageIsCutOnTheWire() async throws {
        var service = GRPCService(name: "test.Loud")
        service.unary("Fail") { (_: Grpc_Testing_Payload, _) -> Grpc_Testing_Payload in
            throw GRPCStatus(.failedPrecondition, String(repeating: "m", count: 100_000))
        }
        let server = GRPCServer(configuration: GRPCServer.Configuration(port: 0), services: [service])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        do {
            let _: Grpc_Testing_Payload = try await client.unary("/test.Loud/Fail", request: Grpc_Testing_Payload(), timeout: .seconds(5))
            Issue.record("the call succeeded")
        } catch let status as GRPCStatus {
            #expect(status.code == .failedPrecondition)
            #expect(status.message.utf8.count == 1024 && status.message.hasSuffix("..."), "\(status.message.utf8.count) bytes")
        }
        await client.close()
        await server.shutdown(grace: .seconds(1))
    }
}
