import CNghttp2
import NIOCore

/// HTTP/2 as bytes, for tests that talk to a connection frame by frame: frames built
/// and parsed by hand, header blocks through nghttp2's own HPACK codec (the peer's
/// blocks use its dynamic table and Huffman codes, which only a real decoder reads).
struct HTTP2Frame: Equatable, CustomStringConvertible {
    enum Kind: UInt8 {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5
        case ping = 6, goAway = 7, windowUpdate = 8, continuation = 9
    }
    static let endStream: UInt8 = 0x1, ack: UInt8 = 0x1, endHeaders: UInt8 = 0x4

    var kind: UInt8
    var flags: UInt8
    var stream: UInt32
    var payload: [UInt8]

    init(_ kind: Kind, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8] = []) {
        self.kind = kind.rawValue
        self.flags = flags
        self.stream = stream
        self.payload = payload
    }

    var type: Kind? { Kind(rawValue: kind) }
    var description: String { "\(type.map { "\($0)" } ?? "type \(kind)") flags=\(flags) stream=\(stream) \(payload.count) bytes" }

    var bytes: [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), kind, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    /// The 32-bit big-endian number at `offset` of the payload (GOAWAY and RST_STREAM codes).
    func word(at offset: Int) -> UInt32 {
        payload[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static let clientPreface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Every whole frame in `bytes`.
    static func parse(_ bytes: [UInt8]) -> [HTTP2Frame] {
        var frames: [HTTP2Frame] = []
        var offset = 0
        while offset + 9 <= bytes.count {
            let length = Int(bytes[offset]) << 16 | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            guard offset + 9 + length <= bytes.count else { break }
            var frame = HTTP2Frame(.data)
            frame.kind = bytes[offset + 3]
            frame.flags = bytes[offset + 4]
            frame.stream = bytes[(offset + 5)..<(offset + 9)].reduce(0) { $0 << 8 | UInt32($1) } & 0x7fff_ffff
            frame.payload = Array(bytes[(offset + 9)..<(offset + 9 + length)])
            frames.append(frame)
            offset += 9 + length
        }
        return frames
    }
}

/// One side's HPACK state: encodes the header blocks it sends, decodes those it gets.
final class HPACKCodec {
    private var deflater: OpaquePointer?
    private var inflater: OpaquePointer?

    init() {
        nghttp2_hd_deflate_new(&deflater, 4096)
        nghttp2_hd_inflate_new(&inflater)
    }

    deinit {
        nghttp2_hd_deflate_del(deflater)
        nghttp2_hd_inflate_del(inflater)
    }

    func encode(_ headers: [(String, String)]) -> [UInt8] {
        // nghttp2_nv points at the bytes: keep them all in one buffer for the call.
        let bytes = headers.flatMap { Array($0.0.utf8) + Array($0.1.utf8) }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
        defer { storage.deallocate() }
        storage.initialize(from: bytes, count: bytes.count)
        var fields: [nghttp2_nv] = []
        var offset = 0
        for (name, value) in headers {
            let nameCount = name.utf8.count, valueCount = value.utf8.count
            fields.append(nghttp2_nv(name: storage + offset, value: storage + offset + nameCount, namelen: nameCount,
                                     valuelen: valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            offset += nameCount + valueCount
        }
        var output = [UInt8](repeating: 0, count: 4096)
        let count = output.withUnsafeMutableBufferPointer { buffer in
            nghttp2_hd_deflate_hd(deflater, buffer.baseAddress, buffer.count, &fields, fields.count)
        }
        precondition(count >= 0, "HPACK encoding failed: \(count)")
        return Array(output.prefix(count))
    }

    func decode(_ block: [UInt8]) -> [(String, String)] {
        var fields: [(String, String)] = []
        var input = block
        input.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            while true {
                var field = nghttp2_nv()
                var flags: Int32 = 0
                let used = nghttp2_hd_inflate_hd2(inflater, &field, &flags, buffer.baseAddress! + offset, buffer.count - offset, 1)
                precondition(used >= 0, "HPACK decoding failed: \(used)")
                offset += used
                if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                    fields.append((String(decoding: UnsafeBufferPointer(start: field.name, count: field.namelen), as: UTF8.self),
                                   String(decoding: UnsafeBufferPointer(start: field.value, count: field.valuelen), as: UTF8.self)))
                }
                if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                    nghttp2_hd_inflate_end_headers(inflater)
                    break
                }
                if used == 0 && offset >= buffer.count { break }
            }
        }
        return fields
    }
}
