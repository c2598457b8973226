import NIOCore

/// The timers of one event loop's connections (keepalive PINGs, their ACK deadlines,
/// idle checks) on one hashed timing wheel, with one NIO timer per loop set for the
/// earliest deadline (the loop sleeps while nothing is due).
///
/// A timer of NIO's own per connection (a RepeatedTask) cost about 0.5 KiB of every
/// connected client's memory, and cancelling one is a linear search of the loop's
/// timer heap: with tens of thousands of connections on a loop, every close scanned
/// them all (perf: 7% of the gate's CPU while 16,000 clients came and went). Here a
/// connection has at most one entry (its next deadline; it works out what is due when
/// it fires), scheduling and cancelling are O(1), and a tick looks at one slot.
///
/// Deadlines are kept to `resolution`: a timer fires within one tick after it is due.
/// The NIO timer is a scheduled callback, which allocates nothing per arming.
final class ConnectionTimerWheel: NIOScheduledCallbackHandler {
    static let resolution = TimeAmount.milliseconds(50)
    /// 2,048 slots of 50 ms: 102 s per turn, longer than the default 60 s keepalive, so
    /// most entries are looked at only when due; later ones wait for their turn.
    private static let slotCount = 2048

    private struct Entry {
        let connection: HTTP2Connection
        let dueTick: Int64
    }

    private let loop: EventLoop
    private let ticks: LoopTicks
    private var slots: [[Entry]]
    /// The last tick whose slot has been looked at.
    private var processedTick: Int64 = 0
    private var count = 0
    /// The tick the NIO timer is set for, and its handle.
    private var armedTick: Int64?
    private var armed: NIOScheduledCallback?

    init(loop: EventLoop) {
        self.loop = loop
        ticks = LoopTicks(of: Self.resolution, on: loop)
        slots = Array(repeating: [], count: Self.slotCount)
    }

    /// Calls `connection.timerFired()` at `deadline` (within a tick after it), replacing
    /// the connection's earlier deadline if it had one.
    func schedule(_ connection: HTTP2Connection, at deadline: NIODeadline) {
        cancel(connection)
        if count == 0 {
            // The slots between the last look and now hold nothing: start from now.
            processedTick = max(processedTick, currentTick() - 1)
        }
        let dueTick = max(ticks.tick(at: deadline) + 1, processedTick + 1)
        let slot = Int(dueTick % Int64(Self.slotCount))
        connection.timerSlot = slot
        connection.timerIndex = slots[slot].count
        slots[slot].append(Entry(connection: connection, dueTick: dueTick))
        count += 1
        arm(dueTick)
    }

    /// Forgets the connection's deadline, if it has one. (The NIO timer stays: when it
    /// fires early it finds nothing due and sets itself for the next deadline.)
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

    private func currentTick() -> Int64 {
        ticks.tick(at: loop.now)
    }

    /// Sets the NIO timer for the end of `tick` unless it is set for an earlier one.
    private func arm(_ tick: Int64) {
        if let armedTick, armedTick <= tick { return }
        armed?.cancel()
        armedTick = tick
        armed = try? loop.assumeIsolatedUnsafeUnchecked().scheduleCallback(at: ticks.deadline(ofTick: tick), handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        armedTick = nil
        armed = nil
        // Every slot since the last look, each once (a turn at most: nothing is armed
        // further ahead).
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
        if count > 0 { arm(nextDueTick()) }
    }

    /// The earliest deadline's tick: the first slot ahead holding an entry due within
    /// this turn of the wheel; a turn ahead if none is (then the next look goes on).
    private func nextDueTick() -> Int64 {
        let horizon = processedTick + Int64(Self.slotCount)
        var tick = processedTick + 1
        while tick <= horizon {
            let slot = Int(tick % Int64(Self.slotCount))
            var index = 0
            while index < slots[slot].count {
                if slots[slot][index].dueTick <= horizon { return slots[slot][index].dueTick }
                index += 1
            }
            tick += 1
        }
        return horizon
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
