import NIOCore

/// Fixed-length ticks on an event loop's clock, counted from when they were made: the
/// per-loop timers (ConnectionTimerWheel, FrameBufferReclaimer) keep their time in these,
/// so a timer is armed for a tick's deadline and a deadline rounds to a tick.
struct LoopTicks {
    let length: TimeAmount
    /// Tick 0 starts here; tick t ends at origin + t x length.
    private let origin: NIODeadline

    init(of length: TimeAmount, on loop: EventLoop) {
        self.length = length
        origin = loop.now
    }

    /// Whole ticks from the origin to `deadline` (0 before the origin).
    func tick(at deadline: NIODeadline) -> Int64 {
        let now = deadline.uptimeNanoseconds, start = origin.uptimeNanoseconds
        return now > start ? Int64((now - start) / UInt64(length.nanoseconds)) : 0
    }

    /// Where `tick` ends.
    func deadline(ofTick tick: Int64) -> NIODeadline {
        origin + .nanoseconds(tick * length.nanoseconds)
    }
}
