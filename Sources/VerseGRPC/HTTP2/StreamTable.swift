/// The open streams of one connection, by id.
///
/// Stream ids of one side grow by 2 (odd from clients, even from servers), so
/// `(id >> 1) & mask` gives the streams open at once distinct slots: a lookup is one
/// compare, no hashing. A stream whose slot is taken (an older stream still open, such
/// as a long-lived push stream) goes to a small Dictionary instead. A Dictionary for all
/// streams hashed every id: about 120 instructions per lookup, insert or removal, and a
/// unary call does six of those. Every change of `count` moves the process's open-streams
/// gauge with it.
struct StreamTable {
    /// A slot is matched by its stream's own id: no array of ids beside it (96 bytes
    /// per connection, and a chat gate holds one connection per client).
    private var slots: [HTTP2Stream?]
    private var overflow: [Int32: HTTP2Stream] = [:]
    private var mask: Int
    private(set) var count = 0

    init(slots size: Int = 16) {
        precondition(size > 0 && size & (size - 1) == 0, "the slot count is a power of two")
        slots = Array(repeating: nil, count: size)
        mask = size - 1
    }

    var isEmpty: Bool { count == 0 }

    /// The open streams, in no particular order.
    var all: [HTTP2Stream] { slots.compactMap { $0 } + overflow.values }

    /// The open stream with the most queued outbound DATA (none: nil) among those
    /// `isCandidate` accepts. A scan of the table, with no array made on the way.
    func holdingMostQueuedData(where isCandidate: (HTTP2Stream) -> Bool) -> HTTP2Stream? {
        var largest: HTTP2Stream?
        func consider(_ stream: HTTP2Stream) {
            let bytes = stream.outbound.readableBytes
            guard bytes > 0, bytes > (largest?.outbound.readableBytes ?? 0), isCandidate(stream) else { return }
            largest = stream
        }
        for index in slots.indices {
            if let stream = slots[index] { consider(stream) }
        }
        for stream in overflow.values { consider(stream) }
        return largest
    }

    subscript(id: Int32) -> HTTP2Stream? {
        if let stream = slots[Int(id >> 1) & mask], stream.id == id { return stream }
        return overflow.isEmpty ? nil : overflow[id]
    }

    /// Adds `stream`, replacing a stream with the same id.
    mutating func insert(_ stream: HTTP2Stream) {
        precondition(stream.id != 0, "stream 0 is the connection")
        if self[stream.id] == nil {
            count += 1
            HTTP2Metrics.streamsOpen.increment()
            // At most half the slots in use keeps the overflow rare.
            if count > slots.count / 2 { grow() }
        }
        place(stream)
    }

    private mutating func place(_ stream: HTTP2Stream) {
        let index = Int(stream.id >> 1) & mask
        if slots[index] == nil || slots[index]!.id == stream.id {
            slots[index] = stream
        } else {
            overflow[stream.id] = stream
        }
    }

    @discardableResult
    mutating func remove(_ id: Int32) -> HTTP2Stream? {
        let index = Int(id >> 1) & mask
        if let removed = slots[index], removed.id == id {
            slots[index] = nil
            count -= 1
            HTTP2Metrics.streamsOpen.decrement()
            return removed
        }
        guard !overflow.isEmpty, let removed = overflow.removeValue(forKey: id) else { return nil }
        count -= 1
        HTTP2Metrics.streamsOpen.decrement()
        return removed
    }

    /// Empties the table; returns what it held, oldest stream first.
    mutating func removeAll() -> [HTTP2Stream] {
        let open = (slots.compactMap { $0 } + overflow.values).sorted { $0.id < $1.id }
        if count > 0 { HTTP2Metrics.streamsOpen.decrement(by: Double(count)) }
        self = StreamTable()
        return open
    }

    private mutating func grow() {
        let open = slots.compactMap { $0 } + overflow.values
        let count = self.count
        self = StreamTable(slots: slots.count * 2)
        for stream in open { place(stream) }
        self.count = count
    }
}
