import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import VerseGRPC

/// Which streams a connection over its queued-DATA budget ends: the largest first, only
/// as many as it takes, never one whose handler refuses.
@Suite("HTTP/2 connection: shedding queued DATA")
struct StreamSheddingTests {
    /// A stream handler that agrees to be cut off (as a live gRPC server stream does) or
    /// refuses (as a client stream does), and records that it was asked.
    final class Handler: HTTP2StreamHandler {
        let agrees: Bool
        weak var connection: HTTP2Connection?
        let id: Int32
        var asked = 0

        init(id: Int32, agrees: Bool, connection: HTTP2Connection) {
            self.id = id
            self.agrees = agrees
            self.connection = connection
        }

        func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool) {}
        func streamReceivedData(_ data: UnsafeRawBufferPointer) {}
        func streamReceivedEndOfData() {}
        func streamClosed(_ reason: HTTP2StreamCloseReason) {}
        func streamWritable() {}
        func streamOverBudget(queuedBytes: Int) -> Bool {
            asked += 1
            if agrees { connection?.resetStream(stream: id, code: .enhanceYourCalm) }
            return agrees
        }
    }

    /// A server connection on an EmbeddedChannel holding one stream per entry of
    /// `queued` (bytes queued, whether its handler agrees to go), ids 1, 3, 5, ...
    static func connection(_ queued: [(bytes: Int, agrees: Bool)]) throws -> (HTTP2Connection, [Handler], EmbeddedChannel) {
        let channel = EmbeddedChannel()
        let connection = HTTP2Connection(role: .server, settings: HTTP2Settings(), logger: Logger(label: "test"))
        try channel.pipeline.syncOperations.addHandler(connection)
        var handlers: [Handler] = []
        for (index, entry) in queued.enumerated() {
            let id = Int32(2 * index + 1)
            let stream = HTTP2Stream(id: id, state: .server())
            let handler = Handler(id: id, agrees: entry.agrees, connection: connection)
            stream.handler = handler
            stream.outbound.append(ByteBuffer(repeating: 0x61, count: entry.bytes))
            connection.dataQueued(entry.bytes)
            connection.streams.insert(stream)
            handlers.append(handler)
        }
        return (connection, handlers, channel)
    }

    @Test func theLargestStreamsGoUntilTheConnectionFitsItsBudget() throws {
        let (connection, handlers, channel) = try Self.connection([(300, true), (900, true), (100, true), (700, true), (500, true)])
        defer { _ = try? channel.finish() }
        connection.shedLargestStreams(toFit: 1_200) // 2,500 queued: 900 and 700 go, 900 is left
        #expect(handlers.map(\.asked) == [0, 1, 0, 1, 0])
        #expect(connection.queuedDataBytes == 900)
    }

    @Test func aStreamThatRefusesIsPassedOverForTheNextLargest() throws {
        let (connection, handlers, channel) = try Self.connection([(900, false), (400, true), (600, true)])
        defer { _ = try? channel.finish() }
        connection.shedLargestStreams(toFit: 1_000) // 1,900: 900 refuses, 600 goes, 1,300 is still over, 400 goes
        #expect(handlers.map(\.asked) == [1, 1, 1])
        #expect(connection.queuedDataBytes == 900)
    }

    @Test func whenEveryStreamRefusesEachIsAskedOnce() throws {
        let (connection, handlers, channel) = try Self.connection([(900, false), (400, false)])
        defer { _ = try? channel.finish() }
        connection.shedLargestStreams(toFit: 100)
        #expect(handlers.map(\.asked) == [1, 1])
        #expect(connection.queuedDataBytes == 1_300)
    }

    /// The process's budget asks one connection to shed, and asks again while the
    /// process is still over: one stream goes per request.
    @Test func aShedForTheProcessBudgetEndsOneStream() throws {
        let (connection, handlers, channel) = try Self.connection([(300, true), (900, true), (500, true)])
        defer { _ = try? channel.finish() }
        connection.shedLargestStreams()
        #expect(handlers.map(\.asked) == [0, 1, 0])
        #expect(connection.queuedDataBytes == 800)
    }
}
