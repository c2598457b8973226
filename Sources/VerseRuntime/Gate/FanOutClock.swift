import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// Where a push's fan-out time starts: at the arrival of the call that made it, when
/// that call reached an object in this process (embedded mode), or else when the push
/// reached the gate.
struct PushOrigin: Sendable {
    /// NIODeadline uptime, nanoseconds.
    let uptimeNanos: UInt64
    let fromCall: Bool

    /// The arrival of the object call this task is running, if it runs one.
    @TaskLocal static var callArrival: UInt64?

    /// For a push made now: from the current call, if any.
    static func current() -> PushOrigin {
        if let arrival = callArrival { return PushOrigin(uptimeNanos: arrival, fromCall: true) }
        return arrivedNow()
    }

    static func arrivedNow() -> PushOrigin {
        PushOrigin(uptimeNanos: NIODeadline.now().uptimeNanoseconds, fromCall: false)
    }
}

/// Times one push's fan-out: from its origin until the last event loop that wrote it
/// has flushed its recipients' connections (a connection flushes in a task its first
/// write queues on the loop; this clock's task is queued after all of them).
final class FanOutClock: Sendable {
    private let origin: PushOrigin
    private let loopsLeft: NIOLockedValueBox<Int>

    init(origin: PushOrigin, loops: Int) {
        self.origin = origin
        self.loopsLeft = NIOLockedValueBox(loops)
    }

    /// Call on each loop right after writing the push there.
    func wrote(on loop: EventLoop) {
        loop.execute { [self] in
            guard loopsLeft.withLockedValue({ left in left -= 1; return left }) == 0 else { return }
            let timer = origin.fromCall ? RuntimeMetrics.fanOutFromCall : RuntimeMetrics.fanOutFromPush
            timer.recordNanoseconds(Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- origin.uptimeNanos))
        }
    }
}
