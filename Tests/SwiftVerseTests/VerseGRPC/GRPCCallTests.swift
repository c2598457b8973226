import NIOConcurrencyHelpers
import NIOCore
import Testing
import VerseGRPC
import VerseProtobuf

/// Calls between SwiftVerse's own server and client over real loopback sockets.
@Suite("gRPC calls end to end")
struct GRPCCallTests {
    typealias Payload = Grpc_Testing_Payload
    typealias Empty = Grpc_Testing_Empty

    /// What the test service's handlers observed.
    final class Observations: Sendable {
        let cancelledHandlers = NIOLockedValueBox(0)
        let startedHangs = NIOLockedValueBox(0)
        let sent = NIOLockedValueBox(0)
        let finishedSends = NIOLockedValueBox(false)
        /// How each `Watch` handler's wait ended: "returned" or "cancelled".
        let watchEndings = NIOLockedValueBox<[String]>([])
        /// `Handoff` calls: the last one handed over, and how many have ended.
        let handedOver = NIOLockedValueBox<ServerCall?>(nil)
        let handoffEnds = NIOLockedValueBox(0)
    }

    static func service(_ seen: Observations) -> GRPCService {
        var service = GRPCService(name: "test.Probe")
        service.unary("Echo") { (request: Payload, _) in request }
        // Waits until its call is cancelled, then records that it saw the cancellation.
        service.unary("Hang") { (_: Empty, _) -> Empty in
            seen.startedHangs.withLockedValue { $0 += 1 }
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                seen.cancelledHandlers.withLockedValue { $0 += 1 }
            }
            throw CancellationError()
        }
        // Streams 200 messages of 64 KiB as fast as flow control allows.
        service.serverStreaming("Flood") { (_: Empty, writer: ResponseWriter<Payload>, _) in
            var payload = Payload()
            payload.body = [UInt8](repeating: 1, count: 64 << 10)
            for _ in 0..<200 {
                try await writer.send(payload)
                seen.sent.withLockedValue { $0 += 1 }
            }
            seen.finishedSends.withLockedValue { $0 = true }
        }
        // A long-lived stream written from elsewhere: one message, then it waits for its call to end.
        service.serverStreaming("Watch") { (_: Empty, writer: ResponseWriter<Payload>, context) in
            try await writer.send(Payload())
            do {
                try await context.call.waitUntilEnded()
                seen.watchEndings.withLockedValue { $0.append("returned") }
            } catch is CancellationError {
                seen.watchEndings.withLockedValue { $0.append("cancelled") }
                throw CancellationError()
            }
        }
        // Hands its stream over and returns: the call stays open until the peer leaves
        // or event-loop code finishes it.
        service.serverStreaming("Handoff") { (_: Empty, writer: ResponseWriter<Payload>, context) in
            try await writer.send(Payload())
            seen.handedOver.withLockedValue { $0 = context.call }
            context.call.keepOpen { _ in seen.handoffEnds.withLockedValue { $0 += 1 } }
        }
        service.unary("Fail") { (_: Empty, _) -> Empty in
            throw GRPCStatus(.failedPrecondition, "refusing: état ☺")
        }
        return service
    }

    static func withServer(_ seen: Observations = Observations(), configure: (inout GRPCServer.Configuration) -> Void = { _ in },
                           _ body: (GRPCServer, GRPCClient) async throws -> Void) async throws {
        var configuration = GRPCServer.Configuration(port: 0)
        configure(&configuration)
        let server = GRPCServer(configuration: configuration, services: [service(seen)])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        do {
            try await body(server, client)
        } catch {
            await client.close()
            await server.shutdown(grace: .milliseconds(100))
            throw error
        }
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
    }

    /// Starts a server-streaming call with an empty request, sent and half-closed.
    static func startStream(_ client: GRPCClient, _ path: String, timeout: Duration? = nil) async throws -> ClientCall {
        let call = try await client.makeCall(path: path, timeout: timeout)
        try await call.send(Empty())
        call.finishSending()
        return call
    }

    /// Polls for what a step brings about; the ceiling (30 s) is far past what any step
    /// takes on a loaded machine, and costs nothing when the event comes.
    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<3000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func unaryRoundTripAndThrownStatusesReachTheClient() async throws {
        try await Self.withServer { _, client in
            var payload = Payload()
            payload.body = Array("hello".utf8)
            let echoed: Payload = try await client.unary("/test.Probe/Echo", request: payload)
            #expect(echoed == payload)
            let error = await #expect(throws: GRPCStatus.self) {
                let _: Empty = try await client.unary("/test.Probe/Fail", request: Empty())
            }
            #expect(error == GRPCStatus(.failedPrecondition, "refusing: état ☺"))
        }
    }

    /// `guarded(by:)` runs before every handler of a service, single-request and
    /// streaming alike: a refused call ends with the check's status and no handler runs.
    @Test func aGuardedServiceRefusesCallsThatFailItsCheckBeforeAnyHandlerRuns() async throws {
        let handled = NIOLockedValueBox(0)
        var service = GRPCService(name: "test.Guarded")
        service.unary("Echo") { (request: Payload, _) in
            handled.withLockedValue { $0 += 1 }
            return request
        }
        service.bidirectionalStreaming("Chat") { (requests: RequestStream<Payload>, writer: ResponseWriter<Payload>, _) in
            handled.withLockedValue { $0 += 1 }
            for try await request in requests { try await writer.send(request) }
        }
        let guarded = service.guarded { call in
            guard call.requestMetadata["x-key"] == "open-sesame" else { throw GRPCStatus(.unauthenticated, "no key") }
        }
        let server = GRPCServer(configuration: GRPCServer.Configuration(port: 0), services: [guarded])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        var payload = Payload()
        payload.body = [1, 2, 3]
        let key = Metadata([("x-key", "open-sesame")])

        await #expect(throws: GRPCStatus(.unauthenticated, "no key")) {
            let _: Payload = try await client.unary("/test.Guarded/Echo", request: payload)
        }
        let refused = try await client.makeCall(path: "/test.Guarded/Chat")
        try? await refused.send(payload)
        refused.finishSending()
        #expect(await refused.status() == GRPCStatus(.unauthenticated, "no key"))
        #expect(handled.withLockedValue { $0 } == 0)

        let echoed: Payload = try await client.unary("/test.Guarded/Echo", request: payload, metadata: key)
        #expect(echoed == payload)
        let admitted = try await client.makeCall(path: "/test.Guarded/Chat", metadata: key)
        try await admitted.send(payload)
        admitted.finishSending()
        #expect(try await admitted.nextResponse().map { Array($0.readableBytesView) } == payload.encoded().bytes())
        #expect(await admitted.status() == .ok)
        #expect(handled.withLockedValue { $0 } == 2)
        await client.close()
        await server.shutdown(grace: .milliseconds(100))
    }

    @Test func unknownServicesAndMethodsAreUnimplemented() async throws {
        try await Self.withServer { _, client in
            for path in ["/test.Probe/Nope", "/test.Nope/Echo", "/noslash"] {
                let error = await #expect(throws: GRPCStatus.self) {
                    let _: Empty = try await client.unary(path, request: Empty())
                }
                #expect(error?.code == .unimplemented)
            }
        }
    }

    /// How a call ended is typed, so callers that retry elsewhere never read status text.
    @Test func aCallSaysHowItEnded() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { server, client in
            let echo = try await Self.startStream(client, "/test.Probe/Echo")
            #expect(await echo.status().isOK)
            #expect(await echo.endCause() == .serverStatus)
            // (The answer may come before the request is sent: the send then fails with it.)
            let unknown = try await client.makeCall(path: "/test.Probe/Nope")
            try? await unknown.send(Empty())
            unknown.finishSending()
            #expect(await unknown.status().code == .unimplemented)
            #expect(await unknown.endCause() == .serverStatus)
            let late = try await Self.startStream(client, "/test.Probe/Hang", timeout: .milliseconds(50))
            #expect(await late.endCause() == .deadlineExceeded)
            let cancelled = try await Self.startStream(client, "/test.Probe/Hang")
            cancelled.cancel()
            #expect(await cancelled.endCause() == .cancelled)
            // The server goes away under a call in flight (its grace period is zero).
            // In flight: its handler runs. A call the server has not seen yet when it
            // sends GOAWAY is refused instead (REFUSED_STREAM, safe to retry).
            let started = seen.startedHangs.withLockedValue { $0 }
            let orphan = try await Self.startStream(client, "/test.Probe/Hang")
            try await Self.waitUntil { seen.startedHangs.withLockedValue { $0 } > started }
            await server.shutdown(grace: .zero)
            #expect(await orphan.status().code == .unavailable)
            #expect(await orphan.endCause() == .connectionLost)
        }
    }

    @Test func clientCancellationCancelsTheServerHandler() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { _, client in
            let call = try await client.makeCall(path: "/test.Probe/Hang")
            try await call.send(Empty())
            call.finishSending()
            try await Self.waitUntil { seen.startedHangs.withLockedValue { $0 } == 1 } // the handler runs
            call.cancel()
            #expect(await call.status().code == .cancelled)
            try await Self.waitUntil { seen.cancelledHandlers.withLockedValue { $0 } == 1 }
            #expect(seen.cancelledHandlers.withLockedValue { $0 } == 1)
            // The connection keeps serving after the reset stream.
            let _: Payload = try await client.unary("/test.Probe/Echo", request: Payload())
        }
    }

    @Test func aHandlerWaitingForItsCallToEndWakesWhenThePeerCancelsOrTheDeadlinePasses() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { _, client in
            let call = try await Self.startStream(client, "/test.Probe/Watch")
            #expect(try await call.nextResponse() != nil)
            try await Task.sleep(for: .milliseconds(100))
            #expect(seen.watchEndings.withLockedValue { $0 }.isEmpty, "the wait ended before the call did")
            call.cancel()
            try await Self.waitUntil { seen.watchEndings.withLockedValue { $0.count } == 1 }
            #expect(seen.watchEndings.withLockedValue { $0 } == ["cancelled"])

            let timed = try await Self.startStream(client, "/test.Probe/Watch", timeout: .milliseconds(300))
            #expect(await timed.status().code == .deadlineExceeded)
            try await Self.waitUntil { seen.watchEndings.withLockedValue { $0.count } == 2 }
            #expect(seen.watchEndings.withLockedValue { $0 } == ["cancelled", "cancelled"])
        }
    }

    @Test func aStreamHandedOverStaysOpenForEventLoopWritesAndReportsItsEnd() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { _, client in
            // Kept open after the handler returned; event-loop code writes, then finishes it.
            let call = try await Self.startStream(client, "/test.Probe/Handoff")
            #expect(try await call.nextResponse() != nil)
            try await Task.sleep(for: .milliseconds(100))
            #expect(seen.handoffEnds.withLockedValue { $0 } == 0, "the call ended when its handler returned")
            let serverCall = try #require(seen.handedOver.withLockedValue { $0 })
            var payload = Payload()
            payload.body = Array("later".utf8)
            let shared = SharedMessage(payload)
            serverCall.eventLoop.execute {
                _ = serverCall.writeOnEventLoop(shared, limit: .init(bytes: 1 << 20))
                serverCall.finishOnEventLoop(.ok)
            }
            let later = try #require(try await call.nextResponse())
            #expect(try Payload(serializedBytes: Array(later.readableBytesView)) == payload)
            #expect(await call.status().code == .ok)
            try await Self.waitUntil { seen.handoffEnds.withLockedValue { $0 } == 1 }
            #expect(seen.handoffEnds.withLockedValue { $0 } == 1)

            // The peer leaving ends a handed-over call too.
            let left = try await Self.startStream(client, "/test.Probe/Handoff")
            #expect(try await left.nextResponse() != nil)
            left.cancel()
            try await Self.waitUntil { seen.handoffEnds.withLockedValue { $0 } == 2 }
            #expect(seen.handoffEnds.withLockedValue { $0 } == 2)
        }
    }

    @Test func anExpiredDeadlineEndsTheCallAndCancelsTheHandler() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { _, client in
            let error = await #expect(throws: GRPCStatus.self) {
                let _: Empty = try await client.unary("/test.Probe/Hang", request: Empty(), timeout: .milliseconds(200))
            }
            #expect(error?.code == .deadlineExceeded)
            try await Self.waitUntil { seen.cancelledHandlers.withLockedValue { $0 } == 1 }
            #expect(seen.cancelledHandlers.withLockedValue { $0 } == 1)
        }
    }

    @Test func anOversizedRequestIsResourceExhausted() async throws {
        try await Self.withServer(configure: { $0.maxReceiveMessageSize = 1000 }) { _, client in
            var payload = Payload()
            payload.body = [UInt8](repeating: 0, count: 2000)
            let error = await #expect(throws: GRPCStatus.self) {
                let _: Payload = try await client.unary("/test.Probe/Echo", request: payload)
            }
            #expect(error?.code == .resourceExhausted)
            #expect(error?.message.contains("exceeds the limit of 1000 bytes") == true)
            payload.body = [UInt8](repeating: 0, count: 900)
            let ok: Payload = try await client.unary("/test.Probe/Echo", request: payload)
            #expect(ok.body.count == 900)
        }
    }

    @Test func aWriterOutpacingASlowReaderIsSuspended() async throws {
        let seen = Observations()
        try await Self.withServer(seen) { _, client in
            let call: StreamingCall<Empty, Payload> = try await client.serverStreaming("/test.Probe/Flood", request: Empty())
            // Read nothing for a while: the server may only get as far as the client's
            // receive window plus its own outbound watermark allow (about 1.3 MiB).
            try await Task.sleep(for: .milliseconds(500))
            let stalledAt = seen.sent.withLockedValue { $0 }
            #expect(stalledAt < 40, "server sent \(stalledAt) x 64 KiB to a client that read nothing")
            #expect(!seen.finishedSends.withLockedValue { $0 })
            var received = 0
            for try await message in call.responses {
                #expect(message.body.count == 64 << 10)
                received += 1
            }
            #expect(received == 200)
        }
    }

    @Test func manyConcurrentCallsShareOneConnection() async throws {
        try await Self.withServer { server, client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        var payload = Payload()
                        payload.body = [UInt8](repeating: UInt8(index % 256), count: index * 10)
                        let echoed: Payload = try await client.unary("/test.Probe/Echo", request: payload)
                        return echoed == payload ? 1 : 0
                    }
                }
                var matched = 0
                for try await ok in group { matched += ok }
                #expect(matched == 200)
            }
            #expect(server.connectionCount == 1)
        }
    }

    @Test func gracefulShutdownLetsInFlightCallsFinish() async throws {
        let seen = Observations()
        var configuration = GRPCServer.Configuration(port: 0)
        configuration.http2.keepaliveInterval = nil
        let server = GRPCServer(configuration: configuration, services: [Self.service(seen)])
        try await server.start()
        let client = try GRPCClient(host: "127.0.0.1", port: server.localPort!)
        let call: StreamingCall<Empty, Payload> = try await client.serverStreaming("/test.Probe/Flood", request: Empty())
        try await Self.waitUntil { seen.sent.withLockedValue { $0 } > 0 }
        let shutdown = Task { await server.shutdown(grace: .seconds(10)) }
        var received = 0
        for try await _ in call.responses { received += 1 }
        #expect(received == 200)
        await shutdown.value
        #expect(server.connectionCount == 0)
        await client.close()
    }
}
