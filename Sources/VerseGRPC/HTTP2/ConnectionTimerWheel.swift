import NIOCore

/// The timers of one event loop's connections (keepalive PINGs, their ACK deadlines,
/// idle checks) on one hashed timing wheel, ticking on one NIO timer per loop.
///
/// A timer of NIO's own per connection (a RepeatedTask) cost about 0.5 KiB of every
/// connected client's memory, and cancelling one is a linear search of the loop's
/// timer heap: with tens of thousands of connections on a loop, every close scanned
/// them all (perf: 7% of the gate's CPU while 16,000 clients came and went). Here a
/// connection has at most one entry (its next deadline; it works out what is due when
/// it fires), scheduling and cancelling are O(1), and a tick looks at one slot.
///
/// Deadlines are kept to `resolution`: a timer fires within one tick after it is due.
final class ConnectionTimerWheel {
    static let resolution = TimeAmount.milliseconds(50)
    /// 2,048 slots of 50 ms: 102 s per turn, longer than the default 60 s keepalive, so
    /// most entries are looked at only when due; later ones wait for their turn.
    private static let slotCount = 2048

    private struct Entry {
        let connection: HTTP2Connection
        let dueTick: Int64
    }

    private let loop: EventLoop
    /// Tick 0 starts here; tick t ends at origin + t x resolution.
    private let origin: NIODeadline
    private var slots: [[Entry]]
    /// The last tick whose slot has been looked at.
    private var processedTick: Int64 = 0
    private var count = 0
    private var ticking = false

    init(loop: EventLoop) {
        self.loop = loop
        origin = loop.now
        slots = Array(repeating: [], count: Self.slotCount)
    }

    /// Calls `connection.timerFired()` at `deadline` (within a tick after it), replacing
    /// the connection's earlier deadline if it had one.
    func schedule(_ connection: HTTP2Connection, at deadline: NIODeadline) {
        cancel(connection)
        let resolution = Self.resolution.nanoseconds
        let sinceOrigin = max(deadline.uptimeNanoseconds, origin.uptimeNanoseconds) - origin.uptimeNanoseconds
        let dueTick = max(Int64(sinceOrigin / UInt64(resolution)) + 1, processedTick + 1)
        let slot = Int(dueTick % Int64(Self.slotCount))
        connection.timerSlot = slot
        connection.timerIndex = slots[slot].count
        slots[slot].append(Entry(connection: connection, dueTick: dueTick))
        count += 1
        startTicking()
    }

    /// Forgets the connection's deadline, if it has one.
    func cancel(_ connection: HTTP2Connection) {
        let slot = connection.timerSlot
        guard slot >= 0 else { return }
        let index = connection.timerIndex
        let last = slots[slot].removeLast()
        if index < slots[slot].count {
            slots[slot][index] = last
            last.connection.timerIndex = index
        }
        connection.timerSlot = -1
        count -= 1
    }

    private func startTicking() {
        guard !ticking else { return }
        ticking = true
        // Where the loop is now: the slots between the last look and now hold nothing
        // (the wheel was empty), so the next tick to look at is the current one.
        processedTick = max(processedTick, currentTick() - 1)
        scheduleTick()
    }

    private func currentTick() -> Int64 {
        let now = loop.now.uptimeNanoseconds
        guard now > origin.uptimeNanoseconds else { return 0 }
        return Int64((now - origin.uptimeNanoseconds) / UInt64(Self.resolution.nanoseconds))
    }

    private func scheduleTick() {
        let next = origin + .nanoseconds((processedTick + 1) * Self.resolution.nanoseconds)
        // The scheduled task holds the wheel (and its connections) until it runs.
        loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: next) { self.tick() }
    }

    private func tick() {
        // A loop that fell behind looks at every slot it missed, each once.
        let now = currentTick()
        let first = processedTick + 1
        let last = min(now, first + Int64(Self.slotCount) - 1)
        var due: [HTTP2Connection] = []
        var tick = first
        while tick <= last {
            collectDue(slot: Int(tick % Int64(Self.slotCount)), upTo: now, into: &due)
            tick += 1
        }
        processedTick = max(last, processedTick)
        // Fired after the slots are settled: a connection usually schedules its next deadline.
        var index = 0 // indexed: for-in allocates per element in the debug build
        while index < due.count {
            due[index].timerFired()
            index += 1
        }
        if count > 0 { scheduleTick() } else { ticking = false }
    }

    private func collectDue(slot: Int, upTo now: Int64, into due: inout [HTTP2Connection]) {
        var index = 0
        while index < slots[slot].count {
            let entry = slots[slot][index]
            if entry.dueTick <= now {
                cancel(entry.connection) // moves the slot's last entry to `index`
                due.append(entry.connection)
            } else {
                index += 1
            }
        }
    }
}
