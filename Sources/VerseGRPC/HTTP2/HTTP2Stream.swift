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
