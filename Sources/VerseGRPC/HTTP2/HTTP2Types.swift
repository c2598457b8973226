import NIOCore

/// One HTTP/2 header field as it crossed the wire (HPACK-decoded by nghttp2).
public struct HTTP2Header: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): \(value)" }
}

/// HTTP/2 error codes (RFC 9113 section 7) used by RST_STREAM and GOAWAY.
public enum HTTP2ErrorCode: UInt32, Sendable {
    case noError = 0x0
    case protocolError = 0x1
    case internalError = 0x2
    case flowControlError = 0x3
    case settingsTimeout = 0x4
    case streamClosed = 0x5
    case frameSizeError = 0x6
    case refusedStream = 0x7
    case cancel = 0x8
    case compressionError = 0x9
    case connectError = 0xa
    case enhanceYourCalm = 0xb
    case inadequateSecurity = 0xc
    case http11Required = 0xd

    /// The RFC's name: NO_ERROR, ENHANCE_YOUR_CALM...
    public var name: String {
        switch self {
        case .noError: "NO_ERROR"
        case .protocolError: "PROTOCOL_ERROR"
        case .internalError: "INTERNAL_ERROR"
        case .flowControlError: "FLOW_CONTROL_ERROR"
        case .settingsTimeout: "SETTINGS_TIMEOUT"
        case .streamClosed: "STREAM_CLOSED"
        case .frameSizeError: "FRAME_SIZE_ERROR"
        case .refusedStream: "REFUSED_STREAM"
        case .cancel: "CANCEL"
        case .compressionError: "COMPRESSION_ERROR"
        case .connectError: "CONNECT_ERROR"
        case .enhanceYourCalm: "ENHANCE_YOUR_CALM"
        case .inadequateSecurity: "INADEQUATE_SECURITY"
        case .http11Required: "HTTP_1_1_REQUIRED"
        }
    }
}

/// Tuning of one HTTP/2 connection. Defaults favour throughput on LAN/loopback while
/// keeping per-connection memory bounded by the receive windows.
public struct HTTP2Settings: Sendable {
    /// Streams the peer may open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams: UInt32 = 1000
    /// Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). Data the application
    /// has not consumed yet counts against it, so a slow reader stops its sender.
    public var streamWindowSize: Int32 = 1 << 20
    /// Connection-level receive window: the most unconsumed data a peer can have in
    /// flight across all streams of the connection.
    public var connectionWindowSize: Int32 = 8 << 20
    /// The HPACK dynamic table the peer's encoder may fill in our decoder
    /// (SETTINGS_HEADER_TABLE_SIZE): its entries are our memory for the connection's
    /// life. 4096 is HTTP/2's default; 0 keeps none, and the peer sends repeated
    /// headers literally.
    public var headerTableSize: UInt32 = 4096
    /// Largest header list accepted (SETTINGS_MAX_HEADER_LIST_SIZE, RFC 7541 sizing).
    public var maxHeaderListSize: UInt32 = 16 << 10
    /// Largest frame payload the peer may send us (SETTINGS_MAX_FRAME_SIZE).
    public var maxFrameSize: UInt32 = 1 << 14
    /// A stream stops accepting writes (the writer is suspended) once this much
    /// outbound data waits for flow-control window.
    public var outboundHighWatermark: Int = 256 << 10
    /// DATA queued on all of one connection's streams past which its largest stream is
    /// cut off (a peer that opened many streams and reads none). nil: no limit.
    public var maxQueuedBytesPerConnection: Int? = 16 << 20
    /// Send a PING this often and close the connection if the ACK takes longer than
    /// `keepaliveTimeout`: finds dead peers that never closed their socket. nil: off.
    public var keepaliveInterval: TimeAmount? = .seconds(60)
    public var keepaliveTimeout: TimeAmount = .seconds(20)
    /// A connection with no stream open and nothing read for this long is sent away
    /// (GOAWAY NO_ERROR, then closed; checked every quarter of it, so it may idle up to
    /// a quarter longer). nil: never (gRPC peers hold their connections on purpose).
    public var idleTimeout: TimeAmount? = nil
    /// A connection that has written nothing for this long gives its nghttp2 frame
    /// buffer's pages and its header block storage back: about 4 KiB of each idle
    /// client's memory (see NGHTTP2FrameBuffer and FrameBufferReclaimer; it happens up to
    /// a few seconds later with many connections on the loop). nil: kept.
    public var idleBufferRelease: TimeAmount? = .seconds(5)

    public init() {}
}

/// One HTTP2Settings value that many connections refer to: a server's connections all
/// use its settings, and a gate holds one connection per client.
final class SharedHTTP2Settings: Sendable {
    let value: HTTP2Settings

    init(_ value: HTTP2Settings) { self.value = value }
}

/// Events about one stream, delivered on the connection's event loop.
protocol HTTP2StreamHandler: AnyObject {
    /// A complete header block: the first is the request/response head, a later one
    /// is trailers. `endStream` is set when the peer ended its side with it.
    func streamReceivedHeaders(_ headers: [HTTP2Header], endStream: Bool)
    /// A chunk of DATA payload. The chunk is only valid during the call.
    func streamReceivedData(_ data: UnsafeRawBufferPointer)
    /// The peer ended its side of the stream with a DATA frame's END_STREAM.
    func streamReceivedEndOfData()
    /// The stream is gone, normally or not.
    func streamClosed(_ reason: HTTP2StreamCloseReason)
    /// Outbound data that was over the high watermark has drained below it.
    func streamWritable()
    /// The connection or the process holds too much queued DATA and this stream holds
    /// the most: end it (true), or refuse (false: the next largest goes instead).
    func streamOverBudget(queuedBytes: Int) -> Bool
}

extension HTTP2StreamHandler {
    func streamOverBudget(queuedBytes: Int) -> Bool { false }
}

/// Why a stream ended.
enum HTTP2StreamCloseReason: Equatable {
    /// Both sides ended the stream (or it was reset with NO_ERROR after completing).
    case normal
    /// RST_STREAM (either side) or GOAWAY with this code.
    case reset(UInt32)
    /// The connection went away under the stream.
    case connectionLost
}

/// Connection-level events for the layer above (gRPC server or client).
protocol HTTP2ConnectionDelegate: AnyObject {
    /// Server role: the peer opened a stream. `oversizedHeaders` is the header list
    /// size when it exceeded the limit (the fields were then not kept). Returns the
    /// stream's handler, or nil when the delegate already answered the stream.
    /// `headers` is only valid during the call.
    func connection(_ connection: HTTP2Connection, openedStream streamID: Int32,
                    headers: HTTP2HeaderBlock, endStream: Bool, oversizedHeaders: Int?) -> HTTP2StreamHandler?
    /// The peer sent GOAWAY: streams above `lastStreamID` were not processed.
    func connection(_ connection: HTTP2Connection, receivedGoAway lastStreamID: Int32, errorCode: UInt32)
    /// The channel closed; every stream has been told already.
    func connectionClosed(_ connection: HTTP2Connection)
    /// A read batch has been processed (what arrived together has been handled).
    func connectionFinishedReadBatch(_ connection: HTTP2Connection)
    /// The connection left its channel's pipeline: the channel closed, whether or not
    /// it ever became active. The connection lets go of its delegate right after.
    func connectionRemoved(_ connection: HTTP2Connection)
}

extension HTTP2ConnectionDelegate {
    func connectionFinishedReadBatch(_ connection: HTTP2Connection) {}
    func connectionRemoved(_ connection: HTTP2Connection) {}
}
