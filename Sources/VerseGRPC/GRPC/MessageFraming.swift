import NIOCore
import VerseProtobuf

/// gRPC's length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length,
/// then the message. Messages may span DATA frames and a frame may hold many.
struct MessageDeframer {
    enum Failure: Error, Equatable {
        case tooLarge(size: Int, limit: Int)
        case compressedWithoutEncoding
        case invalidFlag(UInt8)
    }

    let maxMessageSize: Int
    private var buffer = ByteBuffer()

    init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes held that do not yet form a whole message.
    var pendingBytes: Int { buffer.readableBytes }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeBytes(bytes)
    }

    /// The next complete message, or nil when more bytes are needed. The size check
    /// runs as soon as the 5-byte prefix arrives, before the body is buffered.
    mutating func next() throws(Failure) -> ByteBuffer? {
        guard buffer.readableBytes >= 5,
              let flag = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else { return nil }
        switch flag {
        case 0: break
        case 1: throw .compressedWithoutEncoding
        default: throw .invalidFlag(flag)
        }
        guard Int(length) <= maxMessageSize else { throw .tooLarge(size: Int(length), limit: maxMessageSize) }
        guard buffer.readableBytes >= 5 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        let message = buffer.readSlice(length: Int(length))!
        if buffer.readableBytes == 0 {
            // The message slice shares this storage: start afresh rather than clear(),
            // which would copy the storage to keep the slice intact.
            buffer = ByteBuffer()
        } else if buffer.readerIndex > 64 << 10 {
            buffer.discardReadBytes()
        }
        return message
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
        }
    }
}

@usableFromInline
enum MessageFramer {
    /// Frames an encoded message: prefix and body written straight into one buffer.
    @usableFromInline
    static func frame(_ message: EncodedProto, allocator: ByteBufferAllocator) -> ByteBuffer {
        let size = message.count
        var buffer = allocator.buffer(capacity: 5 + size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 5 + size) { out in
            out[0] = 0 // not compressed
            out.storeBytes(of: UInt32(size).bigEndian, toByteOffset: 1, as: UInt32.self)
            if size > 0 { message.write(into: UnsafeMutableRawBufferPointer(rebasing: out[5...]), knownCount: size) }
            return 5 + size
        }
        return buffer
    }
}

/// gRPC framing for code above the transport that writes pre-framed messages (fan-out:
/// frame once, write to many streams).
public enum GRPCMessageFraming {
    private static let allocator = ByteBufferAllocator()

    public static func frame<Message: ProtoMessage>(_ message: Message) -> ByteBuffer {
        MessageFramer.frame(message.encoded(), allocator: allocator)
    }
}
