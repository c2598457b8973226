import NIOCore
import VerseCodec

/// A message as it came off the wire: its bytes (inflated if it came compressed).
public struct ReceivedMessage: Sendable {
    public let bytes: ByteBuffer
    /// The compressed-flag was set (the bytes were inflated from the call's grpc-encoding).
    /// (Straight after the bytes: a ByteBuffer is 23 bytes, so the flag takes its 24th.)
    public let wasCompressed: Bool
    /// What it took on the wire, prefix included: the flow-control credit it returns.
    let wireSize: Int
}

/// gRPC's length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length,
/// then the message.
enum GRPCMessagePrefix {
    static let length = 5
}

/// Reads length-prefixed messages. Messages may span DATA frames and a frame may hold many.
struct MessageDeframer {
    enum Failure: Error, Equatable {
        case tooLarge(size: Int, limit: Int)
        case compressedWithoutEncoding
        case invalidFlag(UInt8)
        case decompression(DecompressionFailure)
    }

    let maxMessageSize: Int
    private var buffer = ByteBuffer()
    /// The peer's grpc-encoding: how messages with the compressed flag are encoded.
    /// nil (identity) makes such a message a protocol error. (After the buffer, which is
    /// 23 bytes: the deframer is then 32, not 40, in every stream a client keeps open.)
    var encoding: GRPCCompression?

    init(maxMessageSize: Int, encoding: GRPCCompression? = nil) {
        self.maxMessageSize = maxMessageSize
        self.encoding = encoding
    }

    /// Bytes held that do not yet form a whole message.
    var pendingBytes: Int { buffer.readableBytes }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeBytes(bytes)
    }

    /// The next complete message, or nil when more bytes are needed. The size check
    /// runs as soon as the 5-byte prefix arrives, before the body is buffered; a
    /// compressed body is held to the same limit once inflated.
    mutating func next() throws(Failure) -> ReceivedMessage? {
        let prefix = GRPCMessagePrefix.length
        guard buffer.readableBytes >= prefix,
              let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else { return nil }
        switch flag {
        case 0: break
        case 1: if encoding == nil { throw .compressedWithoutEncoding }
        default: throw .invalidFlag(flag)
        }
        guard Int(length) <= maxMessageSize else { throw .tooLarge(size: Int(length), limit: maxMessageSize) }
        guard buffer.readableBytes >= prefix + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: prefix)
        var message = buffer.readSlice(length: Int(length))!
        if buffer.readableBytes == 0 {
            // The message slice shares this storage: start afresh rather than clear(),
            // which would copy the storage to keep the slice intact.
            buffer = ByteBuffer()
        } else if buffer.readerIndex > 64 << 10 {
            buffer.discardReadBytes()
        }
        if flag == 1, let encoding { message = try Self.inflate(message, encoding, limit: maxMessageSize) }
        return ReceivedMessage(bytes: message, wasCompressed: flag == 1, wireSize: prefix + Int(length))
    }

    /// Out of line: every message passes through `next`, few are compressed, and the
    /// inflating path would otherwise keep `next` from being inlined and optimized.
    @inline(never)
    private static func inflate(_ message: ByteBuffer, _ encoding: GRPCCompression, limit: Int) throws(Failure) -> ByteBuffer {
        do {
            return try MessageCompressor.decompress(message, encoding, limit: limit, allocator: ByteBufferAllocator())
        } catch {
            throw .decompression(error)
        }
    }

    /// The status a call ends with when its peer sent this.
    static func status(for failure: Failure) -> GRPCStatus {
        switch failure {
        case .tooLarge(let size, let limit):
            GRPCStatus(.resourceExhausted, "message of \(size) bytes exceeds the limit of \(limit) bytes")
        case .compressedWithoutEncoding:
            GRPCStatus(.internal, "compressed message received but no grpc-encoding was negotiated")
        case .invalidFlag(let flag):
            GRPCStatus(.internal, "invalid message flag \(flag) (expected 0 or 1)")
        case .decompression(.tooLarge(let limit)):
            GRPCStatus(.resourceExhausted, "compressed message inflates past the limit of \(limit) bytes")
        case .decompression(.corrupt(let reason)):
            GRPCStatus(.internal, "could not decompress the message: \(reason)")
        }
    }
}

@usableFromInline
enum MessageFramer {
    /// Frames an encoded message: prefix and body written straight into one buffer.
    @usableFromInline
    static func frame(_ message: some WireEncoding, allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = message.count, prefix = GRPCMessagePrefix.length
        var buffer = allocator.buffer(capacity: prefix + size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: prefix + size) { out in
            out[0] = 0 // not compressed
            out.storeBytes(of: UInt32(size).bigEndian, toByteOffset: 1, as: UInt32.self)
            if size > 0 { message.write(into: UnsafeMutableRawBufferPointer(rebasing: out[prefix...]), knownCount: size) }
            return prefix + size
        }
        return buffer
    }

    /// A framed message compressed with `encoding` (flag 1), from its uncompressed framing.
    /// Compression works on whole framed messages so that fan-out can frame once and
    /// compress once for every recipient that accepts the encoding.
    @usableFromInline
    static func compress(framed: ByteBuffer, _ encoding: GRPCCompression, allocator: ByteBufferAllocator) -> ByteBuffer {
        let prefix = GRPCMessagePrefix.length
        var compressed = framed.withUnsafeReadableBytes { bytes in
            MessageCompressor.compress(UnsafeRawBufferPointer(rebasing: bytes[prefix...]), encoding, prefix: prefix, allocator: allocator)
        }
        compressed.setInteger(UInt8(1), at: compressed.readerIndex)
        compressed.setInteger(UInt32(compressed.readableBytes - prefix), at: compressed.readerIndex + 1)
        return compressed
    }

    /// Frames `message`, compressed when `encoding` is set.
    @usableFromInline
    static func frame(_ message: some WireEncoding, allocator: ByteBufferAllocator, compression encoding: GRPCCompression?) -> ByteBuffer {
        let framed = frame(message, allocator: allocator)
        guard let encoding else { return framed }
        return compress(framed: framed, encoding, allocator: allocator)
    }
}
