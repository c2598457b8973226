import NIOCore

/// The connections of one event loop whose nghttp2 frame buffer is resident, until
/// each has written nothing for its `idleBufferRelease` and gives the pages back
/// (see NGHTTP2FrameBuffer).
///
/// One timer per loop, running only while it holds connections, instead of one per
/// connection: a connection joins on its first write after a release (an array append),
/// stays while it keeps writing, and leaves when released or closed. A busy chat client
/// is never released.
///
/// Each tick does a bounded amount: releasing is a madvise system call (2 us with the
/// process on one CPU, 14 us when its threads run on two and the kernel must flush the
/// other CPU's TLB), and 19,000 clients registered together would otherwise fall idle,
/// and be released, in the same tick: tens of milliseconds of one event loop's time.
/// A tick looks at up to `visitsPerTick` connections round the list and releases up to
/// `releasesPerTick` of them, stopping early once releasing has taken `releaseBudget`:
/// about 0.5 ms of the loop per tick, and 2,500 releases a second per loop on one CPU
/// (350 on two), which keeps up with 100,000 idle clients whose keepalive PING (every
/// 60 s) brings a page back each time.
final class FrameBufferReclaimer: NIOScheduledCallbackHandler {
    /// How often the loop looks: idle limits count in these.
    static let tick = TimeAmount.milliseconds(100)
    private static let visitsPerTick = 2048
    private static let releasesPerTick = 256
    private static let releaseBudget = TimeAmount.microseconds(500)

    private let loop: EventLoop
    private var resident: [HTTP2Connection] = []
    /// Where the next tick's look starts.
    private var cursor = 0
    private(set) var currentTick: UInt64 = 1
    private var sweepScheduled = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// `connection` wrote output now (called on the loop, after every write).
    func wrote(_ connection: HTTP2Connection) {
        connection.lastOutputTick = currentTick
        guard !connection.frameBufferListed else { return }
        connection.frameBufferListed = true
        resident.append(connection)
        scheduleSweep()
    }

    private func scheduleSweep() {
        guard !sweepScheduled else { return }
        // A scheduled callback, not a task: it allocates nothing per tick. The loop holds
        // the reclaimer (and its connections) until it runs.
        sweepScheduled = (try? loop.assumeIsolatedUnsafeUnchecked().scheduleCallback(in: Self.tick, handler: self)) != nil
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        sweepScheduled = false
        currentTick += 1
        let visits = min(resident.count, Self.visitsPerTick)
        var visited = 0
        var released = 0
        // The wall clock, not the loop's: the budget is the loop's own time spent here.
        let stop = NIODeadline.now() + Self.releaseBudget
        while visited < visits, released < Self.releasesPerTick, !resident.isEmpty {
            if cursor >= resident.count { cursor = 0 }
            visited += 1
            let connection = resident[cursor]
            switch connection.checkFrameBuffer(atTick: currentTick) {
            case .inUse:
                cursor += 1
                continue
            case .released:
                released += 1
                if NIODeadline.now() > stop { released = Self.releasesPerTick } // ends this tick's look
            case .closing:
                break
            }
            connection.frameBufferListed = false
            // Swap with the last: the order of the list does not matter.
            let last = resident.removeLast()
            if cursor < resident.count { resident[cursor] = last }
        }
        if !resident.isEmpty { scheduleSweep() }
    }
}
