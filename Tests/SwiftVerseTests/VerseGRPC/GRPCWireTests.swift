import NIOCore
import Testing
@testable import VerseGRPC

@Suite("gRPC wire pieces: framing, timeouts, metadata, status")
struct GRPCWireTests {
    static func frame(_ body: [UInt8], flag: UInt8 = 0) -> [UInt8] {
        let n = UInt32(body.count)
        return [flag, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
    }

    @Test func aMessageSplitAcrossManyChunksIsReassembled() throws {
        var deframer = MessageDeframer(maxMessageSize: 1 << 20)
        let body = (0..<300).map { UInt8($0 % 251) }
        var messages: [[UInt8]] = []
        for byte in Self.frame(body) {
            [byte].withUnsafeBytes { deframer.append($0) }
            while let message = try deframer.next() { messages.append(Array(message.bytes.readableBytesView)) }
        }
        #expect(messages == [body])
        #expect(deframer.pendingBytes == 0)
    }

    @Test func manyMessagesInOneChunkComeOutInOrder() throws {
        var deframer = MessageDeframer(maxMessageSize: 1 << 20)
        let chunk = Self.frame([1]) + Self.frame([]) + Self.frame([2, 3]) + Self.frame([4]).prefix(3)
        chunk.withUnsafeBytes { deframer.append($0) }
        var messages: [[UInt8]] = []
        while let message = try deframer.next() { messages.append(Array(message.bytes.readableBytesView)) }
        #expect(messages == [[1], [], [2, 3]])
        #expect(deframer.pendingBytes == 3) // the start of a fourth message waits for more
    }

    @Test func aCompressedFlagWithoutNegotiatedEncodingIsAnError() {
        var deframer = MessageDeframer(maxMessageSize: 1 << 20)
        Self.frame([1, 2], flag: 1).withUnsafeBytes { deframer.append($0) }
        #expect(throws: MessageDeframer.Failure.compressedWithoutEncoding) { try deframer.next() }
        #expect(MessageDeframer.status(for: .compressedWithoutEncoding).code == .internal)
    }

    @Test func anOversizedMessageIsRejectedFromItsPrefixAlone() {
        var deframer = MessageDeframer(maxMessageSize: 10)
        // Only the 5-byte prefix of an 11-byte message has arrived.
        Array(Self.frame([UInt8](repeating: 0, count: 11)).prefix(5)).withUnsafeBytes { deframer.append($0) }
        #expect(throws: MessageDeframer.Failure.tooLarge(size: 11, limit: 10)) { try deframer.next() }
        #expect(MessageDeframer.status(for: .tooLarge(size: 11, limit: 10)).code == .resourceExhausted)
    }

    @Test(arguments: [
        ("1H", Int64(3_600_000_000_000)), ("2M", 120_000_000_000), ("3S", 3_000_000_000),
        ("4m", 4_000_000), ("5u", 5_000), ("6n", 6), ("99999999S", 99_999_999_000_000_000), ("0m", 0),
    ])
    func timeoutsParseInEveryUnit(_ value: String, _ nanos: Int64) {
        #expect(GRPCTimeout.parse(value) == nanos)
    }

    @Test(arguments: ["", "S", "10", "10s", "123456789S", "-1S", "1.5S", " 1S"])
    func malformedTimeoutsAreRejected(_ value: String) {
        #expect(GRPCTimeout.parse(value) == nil)
    }

    @Test func timeoutsFormatInTheFinestUnitThatFitsAndNeverShrink() {
        #expect(GRPCTimeout.format(nanoseconds: 1_000_000) == "1000000n")
        #expect(GRPCTimeout.format(nanoseconds: 5_000_000_000) == "5000000u")
        #expect(GRPCTimeout.format(nanoseconds: 200_000_000_001) == "200001m") // 200000001u would be 9 digits
        #expect(GRPCTimeout.format(nanoseconds: 3_600_000_000_000_000) == "3600000S")
        for nanos: Int64 in [1, 999, 123_456_789, 98_765_432_123_456] {
            #expect(GRPCTimeout.parse(GRPCTimeout.format(nanoseconds: nanos))! >= nanos)
        }
    }

    @Test func binaryMetadataIsBase64AndAcceptsPaddedAndUnpadded() {
        #expect(Base64.encode([0xab, 0xab, 0xab]) == "q6ur")
        #expect(Base64.encode([0xff]) == "/w")
        #expect(Base64.encode([0x00, 0x01]) == "AAE")
        #expect(Base64.decode("/w") == [0xff])
        #expect(Base64.decode("/w==") == [0xff])
        #expect(Base64.decode("AAE=") == [0x00, 0x01])
        #expect(Base64.decode("a") == nil)
        #expect(Base64.decode("q6u*") == nil)
        for length in 0..<20 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }

    @Test func receivedHeadersBecomeMetadataWithoutProtocolFields() {
        let metadata = Metadata(headers: [
            HTTP2Header(":path", "/a/b"), HTTP2Header("content-type", "application/grpc"),
            HTTP2Header("grpc-timeout", "1S"), HTTP2Header("x-user", "alice"),
            HTTP2Header("x-blob-bin", "AAE="), HTTP2Header("x-bad-bin", "***"),
        ])
        #expect(metadata["x-user"] == "alice")
        #expect(metadata.binary("x-blob-bin") == [0x00, 0x01])
        #expect(metadata.binary("x-bad-bin") == nil)
        #expect(metadata.entries.count == 2)
        var outgoing = Metadata()
        outgoing.add("X-Mixed-Case", "v")
        outgoing.add("trace-bin", binary: [0xab, 0xab, 0xab])
        #expect(outgoing.headers == [HTTP2Header("x-mixed-case", "v"), HTTP2Header("trace-bin", "q6ur")])
    }

    @Test func statusMessagesArePercentEncodedAndDecoded() {
        let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%"
        let encoded = GRPCStatus.percentEncode(message)
        #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7e })
        #expect(encoded.hasPrefix("%09%0Atest with whitespace%0D%0A"))
        #expect(GRPCStatus.percentDecode(encoded) == message)
        #expect(GRPCStatus.percentDecode("bad %zz and %4") == "bad %zz and %4")
    }

    @Test func wireStatusCodesAndHTTPFailuresMapAsTheSpecSays() {
        #expect(GRPCStatus(wireCode: "5", wireMessage: "gone%21").code == .notFound)
        #expect(GRPCStatus(wireCode: "5", wireMessage: "gone%21").message == "gone!")
        #expect(GRPCStatus(wireCode: "99", wireMessage: nil).code == .unknown)
        #expect(GRPCStatus(wireCode: nil, wireMessage: nil).code == .internal)
        let http: [(Int, GRPCStatus.Code)] = [(400, .internal), (401, .unauthenticated), (403, .permissionDenied),
            (404, .unimplemented), (429, .unavailable), (502, .unavailable), (503, .unavailable), (504, .unavailable), (500, .unknown)]
        for (status, code) in http { #expect(GRPCStatus.fromHTTPStatus(status).code == code) }
        #expect(GRPCStatus.fromResetCode(HTTP2ErrorCode.cancel.rawValue).code == .cancelled)
        #expect(GRPCStatus.fromResetCode(HTTP2ErrorCode.refusedStream.rawValue).code == .unavailable)
    }

    /// The connection's stream table against a Dictionary, through random opens and
    /// closes in the patterns connections produce (ids growing by 2, many open at once,
    /// closes out of order) and growth past its initial size.
    @Test func theStreamTableFindsExactlyTheOpenStreams() {
        var table = StreamTable()
        var model: [Int32: HTTP2Stream] = [:]
        var generator = SystemRandomNumberGenerator()
        var nextID: Int32 = 1
        for round in 0..<20_000 {
            let open = round % 5_000 < 2_500 ? 300 : 4 // grow to hundreds open, then drain to a few
            if model.count < open && Bool.random(using: &generator) || model.isEmpty {
                let stream = HTTP2Stream(id: nextID, state: .server())
                nextID += 2
                table.insert(stream)
                model[stream.id] = stream
            } else {
                let victim = model.keys.randomElement(using: &generator)!
                #expect(table.remove(victim) === model.removeValue(forKey: victim))
                #expect(table.remove(victim) == nil)
            }
            #expect(table.count == model.count)
            let probe = Int32.random(in: max(1, nextID - 700)...nextID, using: &generator)
            #expect(table[probe] === model[probe])
        }
        for (id, stream) in model { #expect(table[id] === stream) }
        let drained = table.removeAll()
        #expect(drained.map(\.id) == model.keys.sorted())
        #expect(table.isEmpty && table[1] == nil)
    }
}
