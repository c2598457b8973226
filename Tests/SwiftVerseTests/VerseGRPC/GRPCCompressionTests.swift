import NIOCore
import Testing
@testable import VerseGRPC

@Suite("gRPC message compression: gzip and deflate through zlib")
struct GRPCCompressionTests {
    static let allocator = ByteBufferAllocator()

    /// `body` framed uncompressed, then compressed with `encoding`.
    static func compressedFrame(_ body: [UInt8], _ encoding: GRPCCompression) -> ByteBuffer {
        var plain = allocator.buffer(capacity: body.count + 5)
        plain.writeInteger(UInt8(0))
        plain.writeInteger(UInt32(body.count))
        plain.writeBytes(body)
        return MessageFramer.compress(framed: plain, encoding, allocator: allocator)
    }

    static func deframe(_ framed: ByteBuffer, encoding: GRPCCompression?, limit: Int = 1 << 20) throws(MessageDeframer.Failure) -> ReceivedMessage? {
        var deframer = MessageDeframer(maxMessageSize: limit, encoding: encoding)
        framed.withUnsafeReadableBytes { deframer.append($0) }
        return try deframer.next()
    }

    @Test(arguments: GRPCCompression.allCases)
    func aMessageRoundTripsAndIsMarkedCompressed(encoding: GRPCCompression) throws {
        let body = Array(String(repeating: "SwiftVerse chat history ", count: 400).utf8)
        let framed = Self.compressedFrame(body, encoding)
        let bytes = Array(framed.readableBytesView)
        #expect(bytes[0] == 1)
        // The formats other stacks expect: gzip's magic number, zlib's CMF byte.
        #expect(encoding == .gzip ? bytes[5...6] == [0x1f, 0x8b] : bytes[5] == 0x78)
        #expect(framed.readableBytes < body.count / 10)
        let message = try #require(try Self.deframe(framed, encoding: encoding))
        #expect(Array(message.bytes.readableBytesView) == body)
        #expect(message.wasCompressed)
        // Flow control is credited with what crossed the wire, not the inflated size.
        #expect(message.wireSize == framed.readableBytes)
    }

    @Test func aMessageInflatingToExactlyTheLimitIsTakenOneByteMoreIsNot() throws {
        let limit = 100_000
        let atLimit = Self.compressedFrame([UInt8](repeating: 7, count: limit), .gzip)
        #expect(try Self.deframe(atLimit, encoding: .gzip, limit: limit)?.bytes.readableBytes == limit)
        let over = Self.compressedFrame([UInt8](repeating: 7, count: limit + 1), .gzip)
        #expect(throws: MessageDeframer.Failure.decompression(.tooLarge(limit: limit))) {
            try Self.deframe(over, encoding: .gzip, limit: limit)
        }
    }

    @Test func aCompressionBombStopsAtTheLimit() throws {
        // 64 MiB of zeros in ~64 KiB: refused with RESOURCE_EXHAUSTED after inflating 4 MiB.
        let bomb = Self.compressedFrame([UInt8](repeating: 0, count: 64 << 20), .deflate)
        #expect(bomb.readableBytes < 128 << 10)
        do {
            _ = try Self.deframe(bomb, encoding: .deflate, limit: 4 << 20)
            Issue.record("the bomb was inflated")
        } catch {
            #expect(error == .decompression(.tooLarge(limit: 4 << 20)))
            #expect(MessageDeframer.status(for: error).code == .resourceExhausted)
        }
    }

    @Test func corruptTruncatedAndTrailingDataAreInternalErrors() throws {
        let good = Array(Self.compressedFrame(Array("hello".utf8), .gzip).readableBytesView)
        func reframed(_ payload: ArraySlice<UInt8>) -> ByteBuffer {
            var buffer = Self.allocator.buffer(capacity: payload.count + 5)
            buffer.writeInteger(UInt8(1))
            buffer.writeInteger(UInt32(payload.count))
            buffer.writeBytes(payload)
            return buffer
        }
        let payload = good[5...]
        let cases: [(String, ByteBuffer, GRPCCompression)] = [
            ("corrupt", reframed(payload.prefix(10) + [0xff, 0xff, 0xff] + payload.dropFirst(13)), .gzip),
            ("truncated", reframed(payload.dropLast(4)), .gzip),
            ("trailing bytes", reframed(payload + [1, 2, 3]), .gzip),
            ("gzip read as deflate", reframed(payload), .deflate),
        ]
        for (what, framed, encoding) in cases {
            do {
                _ = try Self.deframe(framed, encoding: encoding)
                Issue.record("\(what): accepted")
            } catch {
                guard case .decompression(.corrupt) = error else {
                    Issue.record("\(what): \(error)")
                    continue
                }
                #expect(MessageDeframer.status(for: error).code == .internal, "\(what)")
            }
        }
    }

    @Test func theCompressedFlagNeedsAnEncoding() {
        #expect(throws: MessageDeframer.Failure.compressedWithoutEncoding) {
            try Self.deframe(Self.compressedFrame([1, 2, 3], .gzip), encoding: nil)
        }
    }

    @Test func acceptEncodingListsAreParsed() {
        func parse(_ text: String) -> AcceptedCompression {
            var text = text
            return text.withUTF8 { AcceptedCompression(headerValue: UnsafeRawBufferPointer($0)) }
        }
        #expect(parse("identity,deflate,gzip") == .all)
        #expect(parse(" gzip , snappy").contains(.gzip) && !parse(" gzip , snappy").contains(.deflate))
        #expect(parse("") == .none)
        #expect(parse("identity") == .none)
        #expect(parse("deflate").contains(.deflate))
    }
}
