import NIOCore
import NIOPosix

/// What the connection keeps per stream: its state (`HTTP2StreamStateMachine`), the
/// outbound queue that nghttp2's data provider drains as flow control allows, the
/// trailers that follow it, and the handler that hears the stream's events.
final class HTTP2Stream {
    var handler: HTTP2StreamHandler?

    // Outbound: bytes waiting for the peer's window, then optional trailers.
    var outbound = OutboundQueue()
    // The small fields in the queue's tail (it is 57 bytes): 128 bytes a stream, not 136
    // (a 160-byte block), and a connected client keeps its push stream open for hours.
    var state: HTTP2StreamStateMachine
    let id: Int32
    /// Trailers to send once `outbound` drains (gRPC's status lives here).
    var trailers: [HTTP2Header]?
    var moreTrailers: [HTTP2Header] = []
    /// Trailers encoded once (takes the place of `trailers` when set).
    var preparedTrailers: PreparedHeaders?

    init(id: Int32, state: HTTP2StreamStateMachine) {
        self.id = id
        self.state = state
    }

    /// Header bytes as RFC 7541 counts them for SETTINGS_MAX_HEADER_LIST_SIZE.
    static func headerSize(nameLength: Int, valueLength: Int) -> Int {
        nameLength + valueLength + 32
    }
}

/// Strings for header bytes seen recently on this thread. Every request repeats most
/// of its header names and values (path, content-type, user-agent): finding the String
/// already made costs one slot probe and a memcmp instead of UTF-8 validation and,
/// for strings over 15 bytes, an allocation. One per event-loop thread, shared by its
/// connections: a cache per connection cost every idle connection about 1 KiB.
final class HeaderStringCache: @unchecked Sendable {
    // @unchecked: each instance is only ever used by the one thread it belongs to.
    private static let perThread = ThreadSpecificVariable<HeaderStringCache>()

    /// The calling thread's cache (made on first use).
    static var current: HeaderStringCache {
        if let cache = perThread.currentValue { return cache }
        let cache = HeaderStringCache()
        perThread.currentValue = cache
        return cache
    }

    /// Direct-mapped: a slot per hash of length and three sampled bytes. A collision
    /// only costs a miss; values that change per request (timeouts) just replace theirs.
    private var slots: [(bytes: [UInt8], string: String)?] = Array(repeating: nil, count: slotCount)
    private static let slotCount = 64
    private static let longest = 256

    func string(_ bytes: UnsafeRawBufferPointer) -> String {
        let count = bytes.count
        guard count > 0, count <= Self.longest else { return String(decoding: bytes, as: UTF8.self) }
        let hash = count &* 31 &+ Int(bytes[0]) &* 7 &+ Int(bytes[count / 2]) &* 3 &+ Int(bytes[count - 1])
        let slot = hash & (Self.slotCount - 1)
        if let entry = slots[slot], entry.bytes.withUnsafeBytes({ $0.sameBytes(as: bytes) }) {
            return entry.string
        }
        let string = String(decoding: bytes, as: UTF8.self)
        slots[slot] = (Array(bytes), string)
        return string
    }
}
