/// Where one HTTP/2 stream is, as its connection sees it: one value per direction, and
/// transitions that take an event and say what the connection does. The connection
/// keeps the bytes (the outbound queue, trailers); this keeps the state.
///
/// Outbound: `idle` (a server stream before its response head) -> `open` (a head sent
/// with a data provider: DATA flows from the queue as the peer's window allows) ->
/// `finishing` (nothing more will be queued; the end goes out once the queue drains)
/// -> `ended` (END_STREAM, or trailers, handed to nghttp2). A client's request stream
/// starts `open`. A head sent with END_STREAM goes straight to `ended`.
///
/// Inbound: `awaitingHeaders` -> `open` (the first header block arrived) -> `ended`
/// (END_STREAM). Later header blocks are trailers.
///
/// `closed` (nghttp2 closed the stream, or the connection went) absorbs every event.
struct HTTP2StreamStateMachine: Equatable {
    enum Outbound: Equatable { case idle, open, finishing, ended }
    enum Inbound: Equatable { case awaitingHeaders, open, ended }

    private(set) var outbound: Outbound
    private(set) var inbound = Inbound.awaitingHeaders
    private(set) var isClosed = false
    /// nghttp2's data provider returned DEFERRED (nothing queued): it must be resumed
    /// when bytes are queued or the stream finishes.
    private(set) var providerParked = false
    /// The writer was told to wait (the queue passed the high watermark).
    private(set) var writerBlocked = false

    static func server() -> Self { Self(outbound: .idle) }
    static func clientRequest() -> Self { Self(outbound: .open) }

    // MARK: outbound

    /// The response head goes out: with `endStream` it is the whole response.
    /// False (nothing to send) unless the stream is idle and open.
    mutating func sendHeaders(endStream: Bool) -> Bool {
        guard !isClosed, outbound == .idle else { return false }
        outbound = endStream ? .ended : .open
        return true
    }

    enum QueueAction: Equatable {
        /// Nothing may be queued (not open, finishing, ended or closed): drop it.
        case refuse
        /// Queue it; resume the parked data provider first if `resume`.
        case queue(resume: Bool)
    }

    /// Bytes are to be queued for DATA.
    mutating func queueData() -> QueueAction {
        guard !isClosed, outbound == .open else { return .refuse }
        return .queue(resume: unpark())
    }

    /// No more DATA: the end (and trailers, if the connection holds any) follows the queue.
    mutating func finish() -> QueueAction {
        guard !isClosed, outbound == .open else { return .refuse }
        outbound = .finishing
        return .queue(resume: unpark())
    }

    private mutating func unpark() -> Bool {
        defer { providerParked = false }
        return providerParked
    }

    enum DataAction: Equatable {
        /// Nothing to send yet: park the provider (NGHTTP2_ERR_DEFERRED).
        case park
        /// Send `count` queued bytes; with `end`, this is the stream's last DATA.
        case send(count: Int, end: Bool)
        /// The stream is gone or not sending: fail the callback.
        case fail
    }

    /// nghttp2 asks for up to `capacity` bytes; `queued` are waiting.
    mutating func provideData(queued: Int, capacity: Int) -> DataAction {
        guard !isClosed, outbound == .open || outbound == .finishing else { return .fail }
        let count = min(queued, capacity)
        if count == queued && outbound == .finishing {
            outbound = .ended
            return .send(count: count, end: true)
        }
        if count == 0 {
            providerParked = true
            return .park
        }
        return .send(count: count, end: false)
    }

    /// After bytes were queued: whether the writer may go on (false: it waits until
    /// `drained` says so).
    mutating func queued(backlog: Int, highWatermark: Int) -> Bool {
        guard backlog >= highWatermark else { return true }
        writerBlocked = true
        return false
    }

    /// After bytes left the queue: whether to tell a waiting writer it may write again.
    mutating func drained(backlog: Int, highWatermark: Int) -> Bool {
        guard writerBlocked, backlog < highWatermark / 2 else { return false }
        writerBlocked = false
        return true
    }

    // MARK: inbound

    enum HeaderBlock: Equatable {
        /// The request (server) or response (client) head.
        case initial
        /// A later block: trailers, or informational headers.
        case later
        /// After END_STREAM or close: ignore it.
        case unexpected
    }

    mutating func receivedHeaders(endStream: Bool) -> HeaderBlock {
        guard !isClosed, inbound != .ended else { return .unexpected }
        let block: HeaderBlock = inbound == .awaitingHeaders ? .initial : .later
        inbound = endStream ? .ended : .open
        return block
    }

    /// END_STREAM on a DATA frame. False if the peer had already ended (or it closed).
    mutating func receivedEndOfData() -> Bool {
        guard !isClosed, inbound != .ended else { return false }
        inbound = .ended
        return true
    }

    var remoteEnded: Bool { inbound == .ended }

    // MARK: close

    /// The stream closed. False if it already was (tell the handler once).
    mutating func close() -> Bool {
        guard !isClosed else { return false }
        isClosed = true
        providerParked = false
        writerBlocked = false
        return true
    }
}
