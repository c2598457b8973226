#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Per-stream state the connection keeps: the header block being assembled and the
/// outbound queue that nghttp2's data provider drains as flow control allows.
final class HTTP2Stream {
    let id: Int32
    var handler: HTTP2StreamHandler?

    // Inbound: header fields of the block in progress.
    var headerBlock: [HTTP2Header] = []
    var headerBlockSize = 0
    var headerBlockTooLarge = false
    var headerBlocksReceived = 0

    // Outbound: bytes waiting for the peer's window, then optional trailers.
    var outbound = HTTP2Stream.empty
    static let empty = ByteBufferAllocator().buffer(capacity: 0)
    /// No more data will be queued; after `outbound` drains the stream ends.
    var outboundFinished = false
    /// Trailers to send once `outbound` drains (gRPC's status lives here).
    var trailers: [HTTP2Header]?
    var moreTrailers: [HTTP2Header] = []
    /// The data provider returned NGHTTP2_ERR_DEFERRED and waits for resume_data.
    var deferred = false
    /// A data provider is attached (response/request HEADERS were submitted with one).
    var hasDataProvider = false
    /// The writer was told to wait; tell it when the queue falls below the watermark.
    var writerBlocked = false
    var remoteEnded = false
    var closed = false

    init(id: Int32) {
        self.id = id
    }

    /// Header bytes as RFC 7541 counts them for SETTINGS_MAX_HEADER_LIST_SIZE.
    static func headerSize(nameLength: Int, valueLength: Int) -> Int {
        nameLength + valueLength + 32
    }
}

/// Strings for header bytes seen recently on a connection. Every request repeats most
/// of its header names and values (path, content-type, user-agent); finding the
/// String already made costs a length check and a memcmp instead of an allocation.
struct HeaderStringCache {
    private var entries: [(bytes: [UInt8], string: String)] = []
    private var next = 0
    private static let capacity = 32

    mutating func string(_ bytes: UnsafeRawBufferPointer) -> String {
        // Short strings are stored inline by Swift: no allocation to save.
        if bytes.count <= 15 { return String(decoding: bytes, as: UTF8.self) }
        for entry in entries where entry.bytes.count == bytes.count {
            let same = entry.bytes.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
            if same { return entry.string }
        }
        let string = String(decoding: bytes, as: UTF8.self)
        if bytes.count <= 256 {
            let entry = (Array(bytes), string)
            if entries.count < Self.capacity {
                entries.append(entry)
            } else {
                entries[next] = entry
                next = (next + 1) % Self.capacity
            }
        }
        return string
    }
}
