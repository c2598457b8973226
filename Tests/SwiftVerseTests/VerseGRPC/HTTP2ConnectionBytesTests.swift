import Glibc
import Logging
import NIOCore
import NIOEmbedded
import Testing
import VerseProtobuf
@_spi(Fuzzing) @testable import VerseGRPC
@testable import VerseRuntime

/// The server side of a connection as bytes: raw HTTP/2 frames in through NIO's
/// EmbeddedChannel, the frames the server writes back checked one by one. No sockets,
/// no timing: each step's answer is there when `writeInbound` returns (handlers that
/// suspend finish when the embedded loop runs).
@Suite("HTTP/2 connection, byte by byte")
struct HTTP2ConnectionBytesTests {
    typealias Payload = Grpc_Testing_Payload
    typealias Frame = HTTP2Frame

    /// A server connection on an EmbeddedChannel, and the client's side of HPACK.
    final class Peer {
        let channel: EmbeddedChannel
        let server: GRPCServer
        let hpack = HPACKCodec()

        init(loop: EmbeddedEventLoop = EmbeddedEventLoop(), configure: (inout GRPCServer.Configuration) -> Void = { _ in }) throws {
            channel = EmbeddedChannel(loop: loop)
            var service = GRPCService(name: "test.Bytes")
            service.unary("Echo") { (request: Payload, _) in request }
            // Reads requests until the client ends or cancels the call.
            service.bidirectionalStreaming("Wait") { (requests: RequestStream<Payload>, _: ResponseWriter<Payload>, _) in
                for try await _ in requests {}
            }
            var configuration = GRPCServer.Configuration(port: 0)
            configuration.http2.keepaliveInterval = nil
            configure(&configuration)
            server = GRPCServer(configuration: configuration, services: [service])
            try server.serve(on: channel)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }

        func send(_ frames: Frame...) throws {
            try send(frames.flatMap(\.bytes))
        }

        func send(_ bytes: [UInt8]) throws {
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            channel.embeddedEventLoop.run()
        }

        /// What the server wrote since the last look.
        func received() throws -> [Frame] {
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
            return Frame.parse(bytes)
        }

        func request(_ method: String, stream: UInt32, endStream: Bool = false) -> Frame {
            let block = hpack.encode([(":method", "POST"), (":scheme", "http"), (":path", "/test.Bytes/\(method)"),
                                      (":authority", "bytes.test"), ("content-type", "application/grpc"), ("te", "trailers")])
            return Frame(.headers, flags: Frame.endHeaders | (endStream ? Frame.endStream : 0), stream: stream, payload: block)
        }

        /// A session: the client preface and empty SETTINGS, past the server's own.
        func open() throws {
            _ = try received()
            try send(Frame.clientPreface + Frame(.settings).bytes)
            _ = try received()
        }
    }

    static func grpcMessage(_ body: [UInt8]) -> [UInt8] {
        var payload = Payload()
        payload.body = body
        let encoded = payload.serializedBytes()
        let length = UInt32(encoded.count)
        return [0, UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + encoded
    }

    @Test func theServerSpeaksFirstAndAcknowledgesTheClientsSettings() throws {
        let peer = try Peer()
        let greeting = try peer.received()
        // SETTINGS (ours) and the connection window raised to 8 MiB, before any client byte.
        #expect(greeting.map(\.type) == [.settings, .windowUpdate])
        let settings = Dictionary(uniqueKeysWithValues: stride(from: 0, to: greeting[0].payload.count, by: 6).map { offset in
            (UInt16(greeting[0].payload[offset]) << 8 | UInt16(greeting[0].payload[offset + 1]), greeting[0].word(at: offset + 2))
        })
        #expect(settings[0x3] == 1000 && settings[0x4] == 1 << 20 && settings[0x6] == 16 << 10 && settings[0x9] == 1,
                "MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_HEADER_LIST_SIZE, NO_RFC7540_PRIORITIES: \(settings)")
        #expect(greeting[1].word(at: 0) == (8 << 20) - 65_535)

        try peer.send(Frame.clientPreface + Frame(.settings).bytes)
        #expect(try peer.received() == [Frame(.settings, flags: Frame.ack)])
        try peer.send(Frame(.ping, payload: Array(1...8)))
        #expect(try peer.received() == [Frame(.ping, flags: Frame.ack, payload: Array(1...8))])
    }

    @Test func aUnaryCallIsHeadersDataAndTrailers() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(peer.request("Echo", stream: 1), Frame(.data, flags: Frame.endStream, stream: 1, payload: Self.grpcMessage([7, 7])))
        let frames = try peer.received().filter { $0.type != .windowUpdate }
        #expect(frames.map(\.type) == [.headers, .data, .headers])
        #expect(frames.allSatisfy { $0.stream == 1 })
        guard frames.count == 3 else { return }
        let head = peer.hpack.decode(frames[0].payload)
        #expect(head.first! == (":status", "200") && head.contains { $0 == ("content-type", "application/grpc") })
        #expect(frames[0].flags & Frame.endStream == 0)
        #expect(frames[1].payload == Self.grpcMessage([7, 7]), "the echoed message, framed")
        let trailers = peer.hpack.decode(frames[2].payload)
        #expect(trailers.count == 1 && trailers[0] == ("grpc-status", "0"))
        #expect(frames[2].flags & Frame.endStream != 0)
    }

    @Test func aCancelledStreamGetsNoAnswerAndTheConnectionGoesOn() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(peer.request("Wait", stream: 1))
        try peer.send(Frame(.rstStream, stream: 1, payload: [0, 0, 0, 8])) // CANCEL
        #expect(try peer.received().filter { $0.stream == 1 && $0.type != .windowUpdate } == [],
                "nothing is sent on a stream the client reset")
        try peer.send(peer.request("Echo", stream: 3), Frame(.data, flags: Frame.endStream, stream: 3, payload: Self.grpcMessage([1])))
        let answer = try peer.received().filter { $0.stream == 3 }
        #expect(answer.map(\.type) == [.headers, .data, .headers])
    }

    @Test func anUnknownMethodIsOneTrailersOnlyFrame() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(peer.request("Missing", stream: 1, endStream: true))
        let frames = try peer.received()
        #expect(frames.map(\.type) == [.headers] && frames[0].flags & Frame.endStream != 0)
        let fields = peer.hpack.decode(frames[0].payload)
        #expect(fields.contains { $0 == ("grpc-status", "12") })
        #expect(fields.contains { $0 == ("grpc-message", "unknown method Missing for service test.Bytes") })
    }

    @Test func drainingSendsGoAwayNamingTheLastStreamAndRefusesNewOnes() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(peer.request("Wait", stream: 1))
        try peer.channel.pipeline.syncOperations.handler(type: HTTP2Connection.self).startDraining()
        let goAway = try peer.received().filter { $0.type == .goAway }
        #expect(goAway.count == 1)
        #expect(goAway.first?.word(at: 0) == 1 && goAway.first?.word(at: 4) == 0, "last stream 1, NO_ERROR")
        try peer.send(peer.request("Echo", stream: 3, endStream: true))
        #expect(try peer.received().filter { $0.stream == 3 }.allSatisfy { $0.type == .rstStream },
                "a stream opened after GOAWAY is not served")
        // The stream in flight still completes, and then the connection closes.
        try peer.send(Frame(.data, flags: Frame.endStream, stream: 1))
        let end = try peer.received().filter { $0.stream == 1 }
        #expect(end.last?.type == .headers && end.last.map { $0.flags & Frame.endStream != 0 } == true)
    }

    /// Pages of `memory` the process has resident (mincore).
    static func residentPages(_ memory: UnsafeMutableRawBufferPointer) -> Int {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (memory.count + pageSize - 1) / pageSize)
        guard mincore(memory.baseAddress, memory.count, &vector) == 0 else { return -1 }
        return vector.filter { $0 & 1 != 0 }.count
    }

    @Test func anIdleConnectionGivesItsFrameBufferBackAndServesOnAfterwards() throws {
        let peer = try Peer { $0.http2.idleBufferRelease = .seconds(1) }
        try peer.open()
        let connection = try peer.channel.pipeline.syncOperations.handler(type: HTTP2Connection.self)
        let pages = try #require(connection.frameBufferPages, "nghttp2's frame buffer was recognised")
        #expect(pages.count >= 16 << 10, "the whole 16 KiB buffer, page-aligned")
        #expect(Self.residentPages(pages) >= 1, "the frames sent so far were packed in it")
        // A call left open (like Register's stream), nothing left to write.
        try peer.send(peer.request("Wait", stream: 1))
        _ = try peer.received()

        // Busy: a PING answered every half second keeps the pages.
        for _ in 0..<6 {
            peer.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            try peer.send(Frame(.ping, payload: Array(1...8)))
            #expect(try peer.received() == [Frame(.ping, flags: Frame.ack, payload: Array(1...8))])
        }
        #expect(Self.residentPages(pages) >= 1, "a connection that keeps writing keeps its buffer")

        // Idle past the limit (1 s, seen within a tick): the pages go back to the system.
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(Self.residentPages(pages) == 0)

        // The next frames are packed in fresh pages and are whole: a call answered in full,
        // bigger than a page so that more than the first page is written again.
        let body = [UInt8](repeating: 0x5a, count: 6000)
        try peer.send(peer.request("Echo", stream: 3),
                      Frame(.data, flags: Frame.endStream, stream: 3, payload: Self.grpcMessage(body)))
        let frames = try peer.received().filter { $0.stream == 3 }
        #expect(frames.map(\.type) == [.headers, .data, .headers])
        guard frames.count == 3 else { return }
        #expect(peer.hpack.decode(frames[0].payload).first! == (":status", "200"))
        #expect(frames[1].payload == Self.grpcMessage(body), "the echoed message, byte for byte")
        #expect(peer.hpack.decode(frames[2].payload).first! == ("grpc-status", "0"))
        #expect(Self.residentPages(pages) >= 2)
        // The Wait call is still served on the same connection.
        try peer.send(Frame(.data, flags: Frame.endStream, stream: 1))
        #expect(try peer.received().filter { $0.stream == 1 }.last?.type == .headers)
    }

    /// A connection that keeps writing is not looked at every tick: the reclaimer sleeps
    /// until the earliest moment a release could be due (one idle limit on), so a busy
    /// loop is not woken ten times a second for nothing. Once the writing stops, the
    /// pages go within two idle limits.
    @Test func theReclaimerSleepsWhileItsConnectionsKeepWriting() throws {
        let peer = try Peer { $0.http2.idleBufferRelease = .seconds(2) }
        try peer.open()
        let connection = try peer.channel.pipeline.syncOperations.handler(type: HTTP2Connection.self)
        let pages = try #require(connection.frameBufferPages)
        let reclaimer = LoopFlushQueue.current(for: peer.channel.embeddedEventLoop).reclaimer
        let looksBefore = reclaimer.looks
        for _ in 0..<40 { // 20 s, a PING answered every half second
            peer.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            try peer.send(Frame(.ping, payload: Array(1...8)))
            #expect(try peer.received() == [Frame(.ping, flags: Frame.ack, payload: Array(1...8))])
        }
        #expect(Self.residentPages(pages) >= 1, "a connection that keeps writing keeps its buffer")
        let looks = reclaimer.looks - looksBefore
        #expect(looks >= 1 && looks <= 12, "\(looks) looks in 20 s (200 ticks)")
        peer.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4300))
        #expect(Self.residentPages(pages) == 0, "released within two idle limits of the last write")
    }

    /// Many connections falling idle together are released a bounded number per tick
    /// (a release is a system call): the loop is not held up by all of them at once.
    @Test func connectionsFallingIdleTogetherAreReleasedInBoundedBatches() throws {
        let loop = EmbeddedEventLoop()
        let peers = try (0..<600).map { _ in try Peer(loop: loop) { $0.http2.idleBufferRelease = .seconds(1) } }
        for peer in peers { try peer.open() }
        let pages = try peers.map { try #require(try $0.channel.pipeline.syncOperations.handler(type: HTTP2Connection.self).frameBufferPages) }
        func releasedCount() -> Int { pages.filter { Self.residentPages($0) == 0 }.count }
        #expect(releasedCount() == 0)
        var counts = [0]
        while counts.last! < 600, counts.count < 1000 { // every tick releases one at least
            loop.advanceTime(by: FrameBufferReclaimer.tick)
            counts.append(releasedCount())
        }
        // Idle for the limit by the 11th tick; then at most 256 a tick (fewer if the
        // releases take over half a millisecond): three ticks at least for 600.
        let steps = zip(counts.dropFirst(), counts).map { $0 - $1 }
        #expect(steps.allSatisfy { $0 <= 256 }, "\(counts)")
        #expect(steps.filter { $0 > 0 }.count >= 3, "\(counts)")
        #expect(counts.last == 600, "\(counts)")
    }

    @Test func withoutAnIdleLimitTheFrameBufferStays() throws {
        let peer = try Peer { $0.http2.idleBufferRelease = nil }
        try peer.open()
        let connection = try peer.channel.pipeline.syncOperations.handler(type: HTTP2Connection.self)
        let pages = try #require(connection.frameBufferPages)
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(Self.residentPages(pages) >= 1)
    }

    @Test func keepalivePingsComeEveryIntervalAndAnUnansweredOneEndsTheConnection() throws {
        let peer = try Peer {
            $0.http2.keepaliveInterval = .seconds(2)
            $0.http2.keepaliveTimeout = .seconds(1)
        }
        try peer.open()
        let loop = peer.channel.embeddedEventLoop
        loop.advanceTime(by: .milliseconds(1900))
        #expect(try peer.received() == [], "nothing before the interval")
        loop.advanceTime(by: .milliseconds(200)) // the wheel fires within 50 ms of the deadline
        let first = try peer.received()
        #expect(first.map(\.type) == [.ping] && first.first?.flags == 0)
        try peer.send(Frame(.ping, flags: Frame.ack, payload: first.first?.payload ?? []))
        loop.advanceTime(by: .seconds(2))
        let second = try peer.received()
        #expect(second.map(\.type) == [.ping], "the next PING an interval later")
        #expect(second.first?.payload != first.first?.payload, "with an ID of its own")
        #expect(peer.channel.isActive)
        loop.advanceTime(by: .milliseconds(1100)) // no ACK within the timeout
        #expect(!peer.channel.isActive)
    }

    /// Many connections on one loop share its timing wheel: closing some (in an order
    /// that moves entries around in their slots) leaves the others' deadlines intact.
    @Test func connectionsClosedOnALoopLeaveTheOthersTimersIntact() throws {
        let loop = EmbeddedEventLoop()
        let peers = try (0..<300).map { index in
            try Peer(loop: loop) { $0.http2.keepaliveInterval = .milliseconds(1000 + Int64(index % 7) * 10) }
        }
        for peer in peers { try peer.open() }
        let closed = Set(stride(from: 0, to: peers.count, by: 3)).union(stride(from: 1, to: peers.count, by: 11))
        for index in closed.sorted(by: >) { try peers[index].channel.close().wait() }
        loop.advanceTime(by: .milliseconds(1200))
        for (index, peer) in peers.enumerated() where !closed.contains(index) {
            #expect(try peer.received().map(\.type) == [.ping], "connection \(index) was pinged once")
        }
    }

    @Test func aMalformedFrameIsAGoAwayAndAClose() throws {
        let peer = try Peer()
        try peer.open()
        // SETTINGS whose length is not a multiple of 6.
        try peer.send(Frame(.settings, payload: [0, 0, 0, 0, 0]).bytes)
        let frames = try peer.received()
        #expect(frames.last?.type == .goAway)
        #expect(frames.last?.word(at: 4) == HTTP2ErrorCode.frameSizeError.rawValue)
        #expect(!peer.channel.isActive)
    }
}

/// Abuse at the frame level gets a bounded answer: GOAWAY with a code that says why,
/// then the close; and a header block far past the limit stops costing work at once.
@Suite("HTTP/2 connection under abuse, byte by byte")
struct HTTP2AbuseBytesTests {
    typealias Frame = HTTP2Frame
    typealias Peer = HTTP2ConnectionBytesTests.Peer

    /// An HPACK bomb: a request head that adds one 4,000-byte field to the dynamic table
    /// and refers to it `references` times (one byte each): 16 KiB on the wire, tens of
    /// megabytes decoded.
    static func bomb(stream: UInt32, references: Int = 12_000) -> [UInt8] {
        let value = [UInt8](repeating: UInt8(ascii: "a"), count: 4000)
        // :method POST, :scheme http, :path / (static table), :authority x (literal, not indexed)
        var block: [UInt8] = [0x83, 0x86, 0x84, 0x01, 0x01, UInt8(ascii: "x")]
        block += [0x40, 6] + Array("x-bomb".utf8) // literal with incremental indexing, new name
        block += [0x7f, UInt8((4000 - 127) & 0x7f | 0x80), UInt8((4000 - 127) >> 7)] + value // 7-bit prefix integer
        block += [UInt8](repeating: 0xbe, count: references) // indexed: dynamic entry 62
        var frames: [UInt8] = []
        var rest = block[...]
        var first = true
        while !rest.isEmpty {
            let chunk = rest.prefix(16 << 10)
            rest = rest.dropFirst(chunk.count)
            let flags = rest.isEmpty ? Frame.endHeaders : 0
            frames += Frame(first ? .headers : .continuation, flags: flags | (first ? Frame.endStream : 0), stream: stream,
                            payload: Array(chunk)).bytes
            first = false
        }
        return frames
    }

    @Test func anHPACKBombIsResetAtOnceAndTheConnectionGoesOn() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(Self.bomb(stream: 1))
        let answer = try peer.received()
        #expect(answer.filter { $0.stream == 1 }.map(\.type) == [.rstStream], "\(answer)")
        #expect(answer.first { $0.stream == 1 }?.word(at: 0) == HTTP2ErrorCode.enhanceYourCalm.rawValue)
        #expect(!answer.contains { $0.type == .goAway })
        // The same connection still serves a proper call.
        try peer.send(peer.request("Echo", stream: 3), Frame(.data, flags: Frame.endStream, stream: 3,
                                                              payload: HTTP2ConnectionBytesTests.grpcMessage([5])))
        #expect(try peer.received().filter { $0.stream == 3 }.map(\.type) == [.headers, .data, .headers])
    }

    @Test func aConnectionThatKeepsSendingBombsIsSentAway() throws {
        let peer = try Peer()
        try peer.open()
        for stream in stride(from: UInt32(1), through: 7, by: 2) { try peer.send(Self.bomb(stream: stream)) }
        let frames = try peer.received()
        // Each bomb's stream reset (the last one's reset may give way to the GOAWAY).
        #expect(frames.filter { $0.type == .rstStream }.count >= 3)
        let goAway = frames.first { $0.type == .goAway }
        #expect(goAway?.word(at: 4) == HTTP2ErrorCode.enhanceYourCalm.rawValue, "\(frames)")
    }

    @Test func aBlockSomewhatOverTheLimitIsStillAnsweredResourceExhausted() throws {
        let peer = try Peer()
        try peer.open()
        try peer.send(Self.bomb(stream: 1, references: 5)) // about 20 KB decoded: over 16 KiB, under 64 KiB
        let frames = try peer.received().filter { $0.stream == 1 }
        #expect(frames.map(\.type) == [.headers], "\(frames)")
        #expect(frames.first { $0.type == .headers }.map { peer.hpack.decode($0.payload) }?.contains { $0 == ("grpc-status", "8") } == true)
    }

    /// Floods nghttp2 refuses (a thousand PINGs or SETTINGS queue a thousand answers;
    /// CONTINUATION frames without end) end with GOAWAY ENHANCE_YOUR_CALM, not a bare close.
    @Test(arguments: ["ping", "settings", "continuation"])
    func aFloodIsAGoAwayThenAClose(_ kind: String) throws {
        let peer = try Peer()
        try peer.open()
        var flood: [UInt8] = []
        switch kind {
        case "ping":
            for index in 0..<5000 { flood += Frame(.ping, payload: withUnsafeBytes(of: UInt64(index)) { Array($0) }).bytes }
        case "settings":
            for _ in 0..<5000 { flood += Frame(.settings).bytes }
        default:
            flood += Frame(.headers, stream: 1, payload: [0x83, 0x86, 0x84]).bytes
            for _ in 0..<5000 { flood += Frame(.continuation, stream: 1).bytes }
        }
        try peer.send(flood)
        let frames = try peer.received()
        let goAway = frames.last { $0.type == .goAway }
        #expect(goAway?.word(at: 4) == HTTP2ErrorCode.enhanceYourCalm.rawValue,
                "\(kind): \(frames.suffix(3)), GOAWAYs \(frames.filter { $0.type == .goAway })")
    }

    /// Rapid reset (CVE-2023-44487): `count` streams opened and reset at once, from `first`.
    static func rapidReset(_ peer: Peer, count: Int, first: UInt32 = 1) throws {
        var bytes: [UInt8] = []
        for index in 0..<UInt32(count) {
            let stream = first + index * 2
            bytes += peer.request("Wait", stream: stream).bytes + Frame(.rstStream, stream: stream, payload: [0, 0, 0, 8]).bytes
        }
        try peer.send(bytes)
    }

    /// Debian 12's nghttp2 carries the CVE-2023-44487 fix: 1,000 streams reset at once,
    /// then 33 a second (its own clock), past which it sends the connection away with
    /// GOAWAY INTERNAL_ERROR.
    @Test func streamsResetFasterThanNghttp2AllowsSendTheConnectionAway() throws {
        let peer = try Peer()
        try peer.open()
        try Self.rapidReset(peer, count: 1000) // the burst: a client that cancels a lot, once
        #expect(try peer.received().filter { $0.type == .goAway } == [])
        try Self.rapidReset(peer, count: 100, first: 2001)
        let goAway = try peer.received().filter { $0.type == .goAway }
        #expect(goAway.count == 1)
        #expect(goAway.first?.word(at: 4) == HTTP2ErrorCode.internalError.rawValue)
        // (What the peer sends after it is read and dropped for 1 MiB, then the connection
        // is closed: an EmbeddedChannel cannot half-close, so the abuse probes test that.)
    }
}

/// A unary call whose request never ends is ended by the server, not kept forever.
@Suite("gRPC server: request-completion timeout, byte by byte")
struct RequestTimeoutBytesTests {
    typealias Frame = HTTP2Frame

    @Test func aRequestThatNeverEndsIsEndedDeadlineExceeded() throws {
        let peer = try HTTP2ConnectionBytesTests.Peer()
        try peer.open()
        try peer.send(peer.request("Echo", stream: 1)) // the head, then nothing
        #expect(try peer.received().filter { $0.stream == 1 && $0.type != .windowUpdate } == [])
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(29))
        #expect(try peer.received().filter { $0.stream == 1 && $0.type != .windowUpdate } == [], "not before 30 s")
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        let frames = try peer.received().filter { $0.stream == 1 }
        let status = frames.first { $0.type == .headers }.map { peer.hpack.decode($0.payload) } ?? []
        #expect(status.contains { $0 == ("grpc-status", "4") }, "\(frames) \(status)")
        #expect(status.contains { $0 == ("grpc-message", "the request did not end within 30 s") })
    }

    @Test func aRequestThatEndsInALaterReadIsServed() throws {
        let peer = try HTTP2ConnectionBytesTests.Peer()
        try peer.open()
        try peer.send(peer.request("Echo", stream: 1))
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try peer.send(Frame(.data, flags: Frame.endStream, stream: 1, payload: HTTP2ConnectionBytesTests.grpcMessage([9])))
        #expect(try peer.received().filter { $0.stream == 1 }.map(\.type) == [.headers, .data, .headers])
        peer.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(try peer.received().filter { $0.stream == 1 } == [], "the timer went with the request's end")
    }
}

/// The HTTPS port's HTTP/2 side (the gate's browser settings) answers 408 to a request
/// whose body never ends, and sends away a connection left idle.
@Suite("HTTP/2 requests (the HTTPS port): body and idle timeouts, byte by byte")
struct HTTP2RequestTimeoutBytesTests {
    struct Echo: HTTP2RequestHandler {
        func handle(_ request: HTTP2Request, responder: HTTP2Responder) {
            responder.respond(status: 200, headers: [], body: request.body)
        }
    }

    /// Never answers: the stream stays open, as an event stream's does.
    struct Hold: HTTP2RequestHandler {
        func handle(_ request: HTTP2Request, responder: HTTP2Responder) {}
    }

    /// A server connection with the gate's browser settings, past the client's preface.
    final class Peer {
        let channel = EmbeddedChannel()
        let hpack = HPACKCodec()

        init(_ handler: any HTTP2RequestHandler) throws {
            try HTTP2RequestServer.configure(channel, settings: HTTPGateServer.browserHTTP2(idleTimeout: .seconds(60)),
                                             maxBodyBytes: 1 << 20, handler: handler, logger: Logger(label: "test"))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
            _ = try received()
            try channel.writeInbound(ByteBuffer(bytes: HTTP2Frame.clientPreface + HTTP2Frame(.settings).bytes))
        }

        func received() throws -> [HTTP2Frame] {
            var bytes: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += Array(buffer.readableBytesView) }
            return HTTP2Frame.parse(bytes)
        }

        func request(_ method: String, _ path: String, stream: UInt32, endStream: Bool) throws {
            let head = hpack.encode([(":method", method), (":scheme", "https"), (":path", path), (":authority", "x")])
            let flags = HTTP2Frame.endHeaders | (endStream ? HTTP2Frame.endStream : 0)
            try channel.writeInbound(ByteBuffer(bytes: HTTP2Frame(.headers, flags: flags, stream: stream, payload: head).bytes))
        }

        func advance(_ seconds: Int64) { channel.embeddedEventLoop.advanceTime(by: .seconds(seconds)) }
    }

    @Test func aBodyThatNeverEndsIsAnswered408() throws {
        let peer = try Peer(Echo())
        try peer.request("POST", "/api/v1/objects/call/A/b/C", stream: 1, endStream: false)
        peer.advance(29)
        #expect(try peer.received().filter { $0.stream == 1 && $0.type == .headers } == [])
        peer.advance(2)
        let answer = try peer.received().first { $0.stream == 1 && $0.type == .headers }
        #expect(answer.map { peer.hpack.decode($0.payload) }?.contains { $0 == (":status", "408") } == true, "\(String(describing: answer))")
    }

    @Test func aConnectionIdleAfterItsLastAnswerIsSentAwayWithNoError() throws {
        let peer = try Peer(Echo())
        try peer.request("GET", "/healthz", stream: 1, endStream: true)
        #expect(try peer.received().contains { $0.stream == 1 && $0.type == .headers })
        peer.advance(59)
        #expect(try peer.received().filter { $0.type == .goAway } == [], "not before 60 s")
        peer.advance(16) // checked every quarter of the timeout
        let goAway = try peer.received().filter { $0.type == .goAway }
        #expect(goAway.count == 1)
        #expect(goAway.first?.word(at: 0) == 1 && goAway.first?.word(at: 4) == 0, "last stream 1, NO_ERROR")
    }

    @Test func aConnectionWithAStreamOpenIsNotIdle() throws {
        let peer = try Peer(Hold())
        try peer.request("GET", "/api/v1/events/stream", stream: 1, endStream: true)
        peer.advance(600)
        #expect(try peer.received().filter { $0.type == .goAway } == [], "an open stream (an event stream) keeps the connection")
    }
}
