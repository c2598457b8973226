import NIOCore

/// A stream's queued DATA payload: the buffers it was given, in order, each kept as it
/// came rather than copied onto one. Fan-out hands every recipient the same encoded
/// push, so a recipient that falls behind holds a reference per push (one ByteBuffer,
/// 24 bytes) instead of its own copy, and queuing behind a backlog copies nothing:
/// with 200 unread streams filling, appending each push onto its stream's one buffer
/// was a fifth of the event loop's time, and every stream held a copy of every push.
///
/// Buffers under `smallestKept` bytes are copied together into a buffer the queue owns,
/// so a run of tiny writes costs about its bytes and not a reference each: what the
/// budgets count (`readableBytes`) stays within a small factor of what is held.
struct OutboundQueue {
    /// Queued bytes, over all buffers.
    private(set) var readableBytes = 0
    /// The buffer being sent.
    private var head = Self.empty
    /// The buffers after it, made when a second one waits and dropped once drained
    /// (an idle stream holds none).
    private var rest: CircularBuffer<ByteBuffer>?
    /// The last buffer is one this queue made (not a caller's, possibly shared), so
    /// small writes may go into it in place.
    private var lastIsOwned = false

    static let smallestKept = 64
    private static let empty = ByteBufferAllocator().buffer(capacity: 0)

    var isEmpty: Bool { readableBytes == 0 }

    /// The buffers held, in order (for tests: whose storage they are).
    var buffers: [ByteBuffer] {
        isEmpty ? [] : [head] + Array(rest ?? [])
    }

    /// Queues `buffer` after what is queued.
    mutating func append(_ buffer: ByteBuffer) {
        let count = buffer.readableBytes
        guard count > 0 else { return }
        defer { readableBytes += count }
        // Alone, any buffer is held as given: a unary call's small response costs no copy.
        guard count < Self.smallestKept, readableBytes > 0 else { return push(buffer, owned: false) }
        if lastIsOwned { return updateLast { $0.writeImmutableBuffer(buffer) } }
        // Behind others, a tiny buffer is copied into one this queue owns; so is the last
        // one queued if it is a caller's tiny one.
        var owned = ByteBufferAllocator().buffer(capacity: Self.smallestKept * 4)
        var joinedLast = false
        updateLast { last in
            guard last.readableBytes < Self.smallestKept else { return }
            owned.writeImmutableBuffer(last)
            owned.writeImmutableBuffer(buffer)
            last = owned
            joinedLast = true
        }
        if joinedLast {
            lastIsOwned = true
        } else {
            owned.writeImmutableBuffer(buffer)
            push(owned, owned: true)
        }
    }

    /// Changes the last buffer queued, in place.
    private mutating func updateLast(_ change: (inout ByteBuffer) -> Void) {
        if rest == nil {
            change(&head)
        } else {
            change(&rest![rest!.index(before: rest!.endIndex)])
        }
    }

    private mutating func push(_ buffer: ByteBuffer, owned: Bool) {
        lastIsOwned = owned
        if readableBytes == 0 {
            head = buffer
        } else if rest == nil {
            var buffers = CircularBuffer<ByteBuffer>(initialCapacity: 4)
            buffers.append(buffer)
            rest = buffers
        } else {
            rest!.append(buffer)
        }
    }

    /// Copies the first `count` queued bytes (at most `readableBytes`) to `destination`
    /// and removes them, letting go of each buffer once it is sent.
    mutating func moveFront(_ count: Int, to destination: UnsafeMutableRawPointer) {
        precondition(count <= readableBytes)
        var copied = 0
        while copied < count {
            let part = min(count - copied, head.readableBytes)
            head.withUnsafeReadableBytes { bytes in
                (destination + copied).copyMemory(from: bytes.baseAddress!, byteCount: part)
            }
            head.moveReaderIndex(forwardBy: part)
            copied += part
            if head.readableBytes == 0 { advanceHead() }
        }
        readableBytes -= count
    }

    /// The next buffer becomes the head (the drained one may be a caller's, shared: it
    /// is let go of, not kept for reuse).
    private mutating func advanceHead() {
        if let next = rest?.popFirst() {
            head = next
            if rest!.isEmpty { rest = nil }
        } else {
            head = Self.empty
            lastIsOwned = false
        }
    }

    /// Drops everything queued (a reset stream sends no more DATA).
    mutating func removeAll() {
        self = OutboundQueue()
    }
}
