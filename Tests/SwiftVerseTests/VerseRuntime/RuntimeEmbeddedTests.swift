import Synchronization
import Testing
import VerseGateClient
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects

/// Node + gate in one process (`--embedded`), driven through gate.GateService.
@Suite("runtime, embedded", .serialized)
struct RuntimeEmbeddedTests {
    static func withEmbedded(policy: AccessPolicy = TestObjects.policy,
                             authenticator: any Authenticator = OpenAuthenticator(),
                             maxQueuedPushBytes: Int = 4 << 20,
                             pushCompression: GRPCCompression? = nil,
                             _ body: (ClusterProcess, Int) async throws -> Void) async throws {
        var settings = ClusterSettings(coordination: .embedded)
        settings.shardCount = 64
        settings.idleSweepInterval = .milliseconds(200)
        var gate = Gate.Configuration(advertiseAddress: "127.0.0.1:0", authenticator: authenticator, policy: policy)
        gate.maxQueuedPushBytes = maxQueuedPushBytes
        gate.pushCompression = pushCompression
        gate.slowClientGrace = .milliseconds(300)
        let process = try ClusterProcess.node(listen: GRPCServer.Configuration(port: 0), advertise: "127.0.0.1:0",
                                              objectTypes: TestObjects.all, settings: settings, gate: gate)
        try await process.start()
        do {
            try await body(process, process.port!)
        } catch {
            await process.stop(grace: .milliseconds(100))
            throw error
        }
        await process.stop(grace: .milliseconds(100))
    }

    static func add(_ delta: Int64) -> Verse_Test_CounterRequest {
        var request = Verse_Test_CounterRequest()
        request.delta = delta
        return request
    }

    @Test func callsActivateObjectsAndKeepTheirStatePerID() async throws {
        try await Self.withEmbedded { process, port in
            let client = try await GateTestClient.connect(port: port, user: "alice")
            let first: Verse_Test_CounterResponse = try await client.call("Counter", "c1", "Add", Self.add(5))
            let second: Verse_Test_CounterResponse = try await client.call("Counter", "c1", "Add", Self.add(2))
            let other: Verse_Test_CounterResponse = try await client.call("Counter", "c2", "Add", Self.add(1))
            #expect(first.value == 5 && second.value == 7 && other.value == 1)
            // The caller comes from the verified session, not from the request.
            #expect(second.callerUser == "alice")
            #expect(second.callerClient == client.clientID)
            #expect(client.clientID.hasPrefix("127.0.0.1:0/"))
            #expect(process.node?.activeObjectCount == 2)
            await client.close()
        }
    }

    @Test func concurrentCallsToOneObjectDoNotOverlap() async throws {
        try await Self.withEmbedded { _, port in
            let client = try await GateTestClient.connect(port: port)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<100 {
                    group.addTask { let _: Verse_Test_CounterResponse = try await client.call("Counter", "busy", "Add", Self.add(1)) }
                }
                try await group.waitForAll()
            }
            let final: Verse_Test_CounterResponse = try await client.call("Counter", "busy", "Add", Self.add(0))
            #expect(final.value == 100)
            await client.close()
        }
    }

    @Test func badCallsGetPreciseStatusesAndDisturbNothing() async throws {
        try await Self.withEmbedded { process, port in
            let client = try await GateTestClient.connect(port: port)
            func status(_ body: () async throws -> Void) async -> GRPCStatus? {
                do { try await body(); return nil } catch let status as GRPCStatus { return status } catch { return nil }
            }
            let unknownType = await status { let _: Verse_Test_CounterResponse = try await client.call("Nope", "x", "Add", Self.add(1)) }
            #expect(unknownType == GRPCStatus(.notFound, "unknown object type \"Nope\""))
            let unknownMethod = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", "x", "Explode", Self.add(1)) }
            #expect(unknownMethod == GRPCStatus(.unimplemented, "Counter has no method Explode"))
            let notAllowed2 = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", "x", "Reset", Self.add(1)) }
            #expect(notAllowed2 == GRPCStatus(.permissionDenied, "clients may not call Counter.Reset"))
            let anonymous = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", "x", "Add", Self.add(1), clientID: "") }
            #expect(anonymous?.code == .unauthenticated)
            let wrongPayload = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", "x", "Add", Verse_Test_EchoRequest()) }
            #expect(wrongPayload?.code == .invalidArgument)
            #expect(wrongPayload?.message == "Counter.Add takes verse.test.CounterRequest, got type.googleapis.com/verse.test.EchoRequest")
            let emptyID = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", "", "Add", Self.add(1)) }
            #expect(emptyID?.code == .invalidArgument)
            let longID = await status { let _: Verse_Test_CounterResponse = try await client.call("Counter", String(repeating: "x", count: 300), "Add", Self.add(1)) }
            #expect(longID?.code == .invalidArgument)
            let notAllowed = await status { let _: Verse_Test_EchoResponse = try await client.call("Echo", "nope-1", "Echo", Verse_Test_EchoRequest()) }
            #expect(notAllowed?.code == .notFound)
            var failing = Verse_Test_EchoRequest()
            failing.failWithCode = Int32(GRPCStatus.Code.failedPrecondition.rawValue)
            failing.text = "boom"
            let thrown = await status { let _: Verse_Test_EchoResponse = try await client.call("Echo", "ok-1", "Echo", failing) }
            #expect(thrown == GRPCStatus(.failedPrecondition, "failing as asked: boom"))
            let stranger = await status {
                let _: Verse_Test_CounterResponse = try await client.call("Counter", "x", "Add", Self.add(1), clientID: "127.0.0.1:0/forged")
            }
            #expect(stranger?.code == .notFound)
            // The node service is not reachable through the gate's port.
            let direct = await status {
                var request = Verse_NodeCallRequest()
                request.type = "Counter"
                request.id = "x"
                request.method = "Add"
                let _: Verse_NodeCallResponse = try await client.grpc.unary("/verse.NodeService/CallObject", request: request)
            }
            #expect(direct?.code == .unimplemented)
            // Nothing above activated an object, and good calls still work.
            #expect(process.node?.activeObjectCount == 1) // Echo ok-1 only
            let ok: Verse_Test_CounterResponse = try await client.call("Counter", "after", "Add", Self.add(3))
            #expect(ok.value == 3)
            await client.close()
        }
    }

    @Test func anotherConnectionCannotUseMyClientID() async throws {
        try await Self.withEmbedded { _, port in
            let alice = try await GateTestClient.connect(port: port, user: "alice")
            let mallory = try await GateTestClient.connect(port: port, user: "mallory")
            await #expect(throws: GRPCStatus(.permissionDenied, "client id \"\(alice.clientID)\" belongs to another connection")) {
                let _: Verse_Test_CounterResponse = try await mallory.call("Counter", "x", "Add", Self.add(1), clientID: alice.clientID)
            }
            await alice.close()
            await mallory.close()
        }
    }

    @Test func pushesReachSubscribersInOrderAndGoneClientsAreDropped() async throws {
        try await Self.withEmbedded { _, port in
            let a = try await GateTestClient.connect(port: port, user: "a")
            let b = try await GateTestClient.connect(port: port, user: "b")
            let _: Verse_Test_SubscribeResponse = try await a.call("Channel", "news", "Subscribe", Verse_Test_SubscribeRequest())
            let subscribed: Verse_Test_SubscribeResponse = try await b.call("Channel", "news", "Subscribe", Verse_Test_SubscribeRequest())
            #expect(subscribed.subscribers == 2)
            var publish = Verse_Test_PublishRequest()
            publish.text = "hello"
            publish.count = 50
            let _: Verse_Test_PublishResponse = try await a.call("Channel", "news", "Publish", publish)
            for client in [a, b] {
                let notes = try await client.nextPushes(50, as: Verse_Test_Note.self)
                #expect(notes.map(\.sequence) == Array(0..<50))
                #expect(notes.allSatisfy { $0.text == "hello" })
            }
            await b.close() // its session ends; the channel hears and drops it
            try await Task.sleep(for: .milliseconds(300))
            publish.count = 1
            let after: Verse_Test_PublishResponse = try await a.call("Channel", "news", "Publish", publish)
            #expect(after.deliveredTo == 1)
            await a.close()
        }
    }

    /// Pushes stay plain unless the gate is told to compress them; then a client that
    /// accepts the encoding gets them compressed and one that does not gets them plain,
    /// from the same push.
    @Test(arguments: [nil, GRPCCompression.gzip, .deflate])
    func pushesAreCompressedOnlyWhenTheGateSaysSoAndTheClientAccepts(compression: GRPCCompression?) async throws {
        try await Self.withEmbedded(pushCompression: compression) { _, port in
            let accepting = try await GateTestClient.connect(port: port, user: "a")
            let plain = try await GateTestClient.connect(port: port, user: "b", acceptsCompression: false)
            for client in [accepting, plain] {
                let _: Verse_Test_SubscribeResponse = try await client.call("Channel", "zip", "Subscribe", Verse_Test_SubscribeRequest())
            }
            var publish = Verse_Test_PublishRequest()
            publish.text = String(repeating: "compressible ", count: 50)
            publish.count = 20
            let _: Verse_Test_PublishResponse = try await accepting.call("Channel", "zip", "Publish", publish)
            for client in [accepting, plain] {
                let notes = try await client.nextPushes(20, as: Verse_Test_Note.self)
                #expect(notes.map(\.sequence) == Array(0..<20) && notes.allSatisfy { $0.text == publish.text })
            }
            #expect(accepting.compressedPushes.withLockedValue { $0 } == (compression == nil ? 0 : 20))
            #expect(plain.compressedPushes.withLockedValue { $0 } == 0)
            await accepting.close()
            await plain.close()
        }
    }

    @Test func broadcastsReachEveryClient() async throws {
        try await Self.withEmbedded { _, port in
            let a = try await GateTestClient.connect(port: port)
            let b = try await GateTestClient.connect(port: port)
            var announce = Verse_Test_PublishRequest()
            announce.text = "to everyone"
            let _: Verse_Test_PublishResponse = try await a.call("Channel", "hall", "Announce", announce)
            for client in [a, b] {
                #expect(try await client.nextPushes(1, as: Verse_Test_Note.self).first?.text == "to everyone")
            }
            await a.close()
            await b.close()
        }
    }

    @Test func clientsCreateAndDeleteObjectsExplicitly() async throws {
        try await Self.withEmbedded { process, port in
            let client = try await GateTestClient.connect(port: port)
            var create = Gate_CreateObjectRequest()
            create.type = "Counter"
            create.id = "made"
            let created: Gate_CreateObjectResponse = try await client.grpc.unary("/gate.GateService/CreateObject", request: create)
            #expect(created.id == "made")
            #expect(process.node?.activeObjectCount == 1)
            var delete = Gate_DeleteObjectRequest()
            delete.type = "Counter"
            delete.id = "made"
            let _: Gate_DeleteObjectResponse = try await client.grpc.unary("/gate.GateService/DeleteObject", request: delete)
            #expect(process.node?.activeObjectCount == 0)
            await #expect(throws: GRPCStatus(.notFound, "no active object Counter/made")) {
                let _: Gate_DeleteObjectResponse = try await client.grpc.unary("/gate.GateService/DeleteObject", request: delete)
            }
            delete.type = "Channel" // not deletable by clients
            await #expect(throws: GRPCStatus(.permissionDenied, "clients may not delete Channel objects")) {
                let _: Gate_DeleteObjectResponse = try await client.grpc.unary("/gate.GateService/DeleteObject", request: delete)
            }
            await client.close()
        }
    }

    @Test func aClientThatStopsReadingIsCutOffAndOthersLoseNothing() async throws {
        try await Self.withEmbedded(maxQueuedPushBytes: 256 << 10) { _, port in
            let clients = try await StalledReader.subscribe(port: port)
            let (reader, staller) = (clients.reader, clients.staller)
            // 3 MiB of pushes: past the staller's 1 MiB receive window plus the gate's 256 KiB limit.
            let received = try await clients.publish3MiB()
            #expect(received.map(\.sequence) == Array(0..<192))
            let status = await staller.registration.status()
            #expect(status.code == .resourceExhausted, "the staller ended with \(status)")
            var admin = Verse_StatusResponse()
            for _ in 0..<300 {
                admin = try await reader.grpc.unary("/verse.Admin/Status", request: Verse_StatusRequest())
                if admin.slowClientsDisconnected > 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(admin.slowClientsDisconnected == 1)
            await clients.close()
        }
    }

    @Test func idleObjectsAreCollected() async throws {
        try await Self.withEmbedded { process, port in
            let client = try await GateTestClient.connect(port: port)
            let _: Verse_Test_CounterResponse = try await client.call("Scratch", "tmp", "Add", Self.add(4))
            #expect(process.node?.activeObjectCount == 1)
            // Collected after its idle time, by a sweep every 200 ms: wait for it.
            for _ in 0..<300 where process.node?.activeObjectCount != 0 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(process.node?.activeObjectCount == 0)
            let fresh: Verse_Test_CounterResponse = try await client.call("Scratch", "tmp", "Add", Self.add(1))
            #expect(fresh.value == 1) // a new activation: state started over
            await client.close()
        }
    }

    @Test func passwordAuthenticationGuardsRegister() async throws {
        try await Self.withEmbedded(authenticator: SharedPasswordAuthenticator(password: "s3cret")) { _, port in
            await #expect(throws: GRPCStatus(.unauthenticated, "wrong password for eve")) {
                _ = try await GateTestClient.connect(port: port, user: "eve", password: "guess")
            }
            await #expect(throws: GRPCStatus(.unauthenticated, "missing x-username")) {
                _ = try await GateTestClient.connect(port: port, user: nil, password: "s3cret")
            }
            await #expect(throws: GRPCStatus(.unauthenticated, "user name must be printable with no spaces")) {
                _ = try await GateTestClient.connect(port: port, user: "two words", password: "s3cret")
            }
            let ok = try await GateTestClient.connect(port: port, user: "bob", password: "s3cret")
            #expect(!ok.clientID.isEmpty)
            await ok.close()
        }
    }
}
