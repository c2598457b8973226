import NIOCore
import NIOPosix

/// The connections of one event loop that have output to flush at the end of this
/// tick. A push to a 100-member room writes to 100 connections: one task per loop that
/// flushes all of them costs an array append per connection, where a task of its own
/// per connection cost about 800 instructions each (the loop's task queue, its lock and
/// its heap).
///
/// Connections join it with `add` on their own loop; the queue flushes them in the
/// order they joined, once each however many writes they took.
///
/// It also keeps the loop's spare output buffer. Flushes on a loop run one at a time and
/// the socket usually takes each buffer at once, so one buffer serves every connection
/// of the loop: a spare per connection was up to 4 KiB of every chatting client's memory
/// (and about 200 bytes of an idle one's). A buffer the socket still holds (a slow peer)
/// is copied on the next write, not overwritten: ByteBuffer is copy-on-write.
final class LoopFlushQueue: @unchecked Sendable {
    // @unchecked: used only on its event loop's thread (the loop's tasks run there too).
    private static let perThread = ThreadSpecificVariable<LoopFlushQueue>()

    /// The calling thread's queue for `loop` (made on first use). Event loops own their
    /// thread, so this is one queue per loop (embedded test loops sharing a thread
    /// replace each other's: a replaced queue still drains what it was given).
    static func current(for loop: EventLoop) -> LoopFlushQueue {
        if let queue = perThread.currentValue, queue.loop === loop { return queue }
        let queue = LoopFlushQueue(loop: loop)
        perThread.currentValue = queue
        return queue
    }

    /// Held strongly: a weak reference would give the loop a side table, and make every
    /// retain and release of it, of which there are many per write, take the slow path.
    private let loop: EventLoop
    private var waiting: [HTTP2Connection] = []
    /// The other array: the drain swaps the two, so neither is reallocated per tick.
    private var draining: [HTTP2Connection] = []
    private var drainTask: (@Sendable () -> Void)?
    /// The loop's idle frame-buffer release and its connections' timers, kept here to
    /// share the per-thread lookup.
    let reclaimer: FrameBufferReclaimer
    let timers: ConnectionTimerWheel

    private init(loop: EventLoop) {
        self.loop = loop
        reclaimer = FrameBufferReclaimer(loop: loop)
        timers = ConnectionTimerWheel(loop: loop)
        // Unretained: `add` keeps the queue alive while a drain is pending (a weak
        // reference would cost the same side-table slow path as the loop's).
        drainTask = { [unowned(unsafe) self] in self.drain() }
    }

    /// Flushes `connection` once at the end of this tick (the caller keeps its own flag
    /// so a connection is added once per tick).
    func add(_ connection: HTTP2Connection) {
        waiting.append(connection)
        guard waiting.count == 1, let drainTask else { return }
        _ = Unmanaged.passRetained(self) // released by drain
        loop.execute(drainTask)
    }

    private func drain() {
        swap(&waiting, &draining)
        // Indexed: a for-in over the array allocates per element in the debug build
        // (an unspecialized read coroutine), which make test-allocations counts.
        var index = 0
        while index < draining.count {
            draining[index].flushQueued()
            index += 1
        }
        draining.removeAll(keepingCapacity: draining.capacity <= Self.keptCapacity)
        Unmanaged.passUnretained(self).release() // taken by add
    }

    /// Arrays longer than this are not kept between ticks (a burst over many connections).
    private static let keptCapacity = 1024

    private var spareOutput: ByteBuffer?
    /// Larger buffers (a burst) are let go rather than kept for the loop's life.
    private static let spareOutputLimit = 64 << 10

    /// The loop's spare output buffer, if it has one; the caller gives it back with
    /// `keepSpareOutput` once written.
    func takeSpareOutput() -> ByteBuffer? {
        defer { spareOutput = nil }
        return spareOutput
    }

    func keepSpareOutput(_ buffer: ByteBuffer) {
        if buffer.capacity <= Self.spareOutputLimit { spareOutput = buffer }
    }
}
