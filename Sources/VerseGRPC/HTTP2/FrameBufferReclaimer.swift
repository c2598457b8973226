import NIOCore

/// The connections of one event loop whose nghttp2 frame buffer is resident, until
/// each has written nothing for its `idleBufferRelease` and gives the pages back
/// (see NGHTTP2FrameBuffer).
///
/// One timer per loop, running only while it holds connections, instead of one per
/// connection: a connection joins on its first write after a release (an array append),
/// stays while it keeps writing, and leaves when released or closed. A busy chat client
/// is never released. Between looks the timer sleeps until the earliest tick at which a
/// connection could be released (for connections that keep writing, one idle limit),
/// not every tick: each wake-up of the loop costs it work and allocations of its own.
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
    /// Looked at round-robin, a bounded number a tick.
    private var resident = RoundRobinList<HTTP2Connection>()
    private let ticks: LoopTicks
    /// The tick a write is recorded at. While the timer sleeps until tick T this is
    /// T - 1: a write during the sleep counts as made just before the next look, later
    /// than it was, so a connection is never released early (at worst one idle limit
    /// late), and a write costs no clock read.
    private(set) var currentTick: Int64 = 1
    private var sweepScheduled = false
    /// Times the timer has fired (for tests).
    private(set) var looks = 0

    init(loop: EventLoop) {
        self.loop = loop
        ticks = LoopTicks(of: Self.tick, on: loop)
    }

    /// `connection` wrote output now (called on the loop, after every write).
    func wrote(_ connection: HTTP2Connection) {
        // Not armed: currentTick is as old as the last look; bring it up to now first.
        if !sweepScheduled { currentTick = max(currentTick, clockTick()) }
        connection.lastOutputTick = currentTick
        guard !connection.frameBufferListed else { return }
        connection.frameBufferListed = true
        resident.append(connection)
        scheduleSweep(atTick: currentTick + 1)
    }

    private func clockTick() -> Int64 {
        ticks.tick(at: loop.now)
    }

    private func scheduleSweep(atTick due: Int64) {
        guard !sweepScheduled else { return }
        // A scheduled callback, not a task: it allocates nothing when armed. The loop
        // holds the reclaimer (and its connections) until it runs.
        sweepScheduled = (try? loop.assumeIsolatedUnsafeUnchecked().scheduleCallback(at: ticks.deadline(ofTick: due), handler: self)) != nil
        if sweepScheduled { currentTick = max(currentTick, due - 1) }
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        sweepScheduled = false
        looks += 1
        currentTick = max(currentTick + 1, clockTick())
        let listed = resident.count
        var released = 0
        /// The look ended at this tick's release count or time budget.
        var stoppedAtLimit = false
        /// The earliest tick at which a connection looked at could be released.
        var nextRelease = Int64.max
        // The wall clock, not the loop's: the budget is the loop's own time spent here.
        let stop = NIODeadline.now() + Self.releaseBudget
        let visited = resident.look(atMost: Self.visitsPerTick) { connection in
            switch connection.checkFrameBuffer(atTick: currentTick) {
            case .inUse(let releasableAt):
                nextRelease = min(nextRelease, releasableAt)
                return .keep
            case .released:
                connection.frameBufferListed = false
                released += 1
                // This tick's limits reached: the look ends here.
                if released >= Self.releasesPerTick || NIODeadline.now() > stop {
                    stoppedAtLimit = true
                    return .removeAndStop
                }
                return .remove
            case .closing:
                connection.frameBufferListed = false
                return .remove
            }
        }
        guard !resident.isEmpty else { return }
        // Some not looked at (or not released for this tick's limits): look again next tick.
        let lookedAtAll = visited == listed && !stoppedAtLimit
        scheduleSweep(atTick: lookedAtAll && nextRelease != .max ? max(nextRelease, currentTick + 1) : currentTick + 1)
    }
}
