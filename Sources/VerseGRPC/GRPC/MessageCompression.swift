import CZlib
import NIOCore

/// A gRPC message encoding (`grpc-encoding`) other than identity, through zlib.
/// "deflate" is the zlib format (RFC 1950), as gRPC C++, Java and Go send it.
public enum GRPCCompression: String, Sendable, CaseIterable {
    case gzip
    case deflate

    /// The value of `grpc-encoding` for a known name (identity is no compression: nil).
    init?(headerValue: UnsafeRawBufferPointer) {
        if headerValue.equals("gzip") { self = .gzip } else if headerValue.equals("deflate") { self = .deflate } else { return nil }
    }

    /// What this stack decodes, as `grpc-accept-encoding` lists it.
    static let acceptEncodingValue = "identity,deflate,gzip"

    /// zlib's window bits: 15 (a 32 KiB window), plus 16 for the gzip wrapper.
    fileprivate var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }

    /// One bit per encoding (never 0): its place in `AcceptedCompression`, and what
    /// `ServerCall` keeps in an atomic. (`allCases` would build an array per use.)
    var code: UInt8 { self == .gzip ? 1 : 2 }

    init?(code: UInt8) {
        switch code {
        case 1: self = .gzip
        case 2: self = .deflate
        default: return nil
        }
    }
}

/// Which encodings a peer accepts (its `grpc-accept-encoding`), as a small bit set.
public struct AcceptedCompression: Sendable, Equatable {
    fileprivate var bits: UInt8 = 0

    public static let none = AcceptedCompression()
    public static let all = AcceptedCompression(GRPCCompression.allCases)

    public init<Encodings: Sequence<GRPCCompression>>(_ encodings: Encodings) {
        for encoding in encodings { bits |= encoding.code }
    }

    private init() {}

    /// Parses a comma-separated list ("identity,deflate,gzip"); unknown names are ignored.
    init(headerValue: UnsafeRawBufferPointer) {
        var start = 0
        for index in 0...headerValue.count where index == headerValue.count || headerValue[index] == UInt8(ascii: ",") {
            var from = start, to = index
            while from < to && headerValue[from] == UInt8(ascii: " ") { from += 1 }
            while to > from && headerValue[to - 1] == UInt8(ascii: " ") { to -= 1 }
            if let encoding = GRPCCompression(headerValue: UnsafeRawBufferPointer(rebasing: headerValue[from..<to])) {
                bits |= encoding.code
            }
            start = index + 1
        }
    }

    public func contains(_ encoding: GRPCCompression) -> Bool { bits & encoding.code != 0 }
}

/// Why a compressed message could not be read.
enum DecompressionFailure: Error, Equatable {
    /// Inflating passed the message limit (stopped there: nothing larger is held).
    case tooLarge(limit: Int)
    /// Not a valid stream of the encoding, truncated, or followed by other bytes.
    case corrupt(String)
}

/// One-shot compression of whole messages, as gRPC frames them.
enum MessageCompressor {
    /// `bytes` compressed, written after `prefix` reserved bytes of the returned buffer
    /// (the caller fills in the 5-byte gRPC prefix).
    static func compress(_ bytes: UnsafeRawBufferPointer, _ encoding: GRPCCompression, prefix: Int,
                         allocator: ByteBufferAllocator) -> ByteBuffer {
        var stream = z_stream()
        guard CZlib_deflateInit2(&stream, Z_DEFAULT_COMPRESSION, encoding.windowBits) == Z_OK else {
            fatalError("zlib deflateInit2 failed: out of memory")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var buffer = allocator.buffer(capacity: prefix + bound)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: prefix + bound) { out in
            stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(bytes.count)
            stream.next_out = out.baseAddress!.advanced(by: prefix).assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(bound)
            // deflateBound is enough for one Z_FINISH pass: the result is always Z_STREAM_END.
            let result = deflate(&stream, Z_FINISH)
            precondition(result == Z_STREAM_END, "zlib deflate returned \(result) with a deflateBound buffer")
            return prefix + Int(stream.total_out)
        }
        return buffer
    }

    /// `bytes` inflated. The output grows as inflation proceeds and stops as soon as it
    /// would pass `limit`: a small message that inflates to gigabytes (a compression
    /// bomb) costs at most `limit` bytes of memory and the CPU to get there.
    static func decompress(_ bytes: ByteBuffer, _ encoding: GRPCCompression, limit: Int,
                           allocator: ByteBufferAllocator) throws(DecompressionFailure) -> ByteBuffer {
        var stream = z_stream()
        guard CZlib_inflateInit2(&stream, encoding.windowBits) == Z_OK else {
            fatalError("zlib inflateInit2 failed: out of memory")
        }
        defer { inflateEnd(&stream) }
        // A first guess of 4x the input, within the limit; doubled while needed.
        var output = allocator.buffer(capacity: min(limit, max(256, bytes.readableBytes * 4)) + 1)
        let outcome: Result<Void, DecompressionFailure> = bytes.withUnsafeReadableBytes { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            while true {
                // Room for one byte past the limit: producing it means the message is too large.
                let room = min(max(output.writableBytes, output.readableBytes), limit + 1 - output.readableBytes)
                var result: Int32 = Z_OK
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(room)
                    result = inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
                if output.readableBytes > limit { return .failure(.tooLarge(limit: limit)) }
                switch result {
                case Z_STREAM_END:
                    guard stream.avail_in == 0 else {
                        return .failure(.corrupt("\(stream.avail_in) bytes follow the end of the \(encoding.rawValue) data"))
                    }
                    return .success(())
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return .failure(.corrupt("the \(encoding.rawValue) data ends early"))
                case Z_BUF_ERROR:
                    continue // out of room: the next pass has more
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                    return .failure(.corrupt("invalid \(encoding.rawValue) data: \(reason)"))
                }
            }
        }
        try outcome.get()
        return output
    }
}
