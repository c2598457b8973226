import CMimalloc
import NIOCore

/// Gives memory freed after a burst back to the system. mimalloc keeps a thread's freed
/// pages for its next allocations and returns them only when that thread allocates or
/// collects again; an event loop that goes quiet after a burst (a slow reader's 4 MiB
/// backlog freed at its cut-off) would hold them for good. So each loop collects every
/// `interval`: cheap when there is nothing to return.
enum MemoryRelease {
    static func start(on group: EventLoopGroup, every interval: TimeAmount = .seconds(10)) -> [RepeatedTask] {
        group.makeIterator().map { loop in
            loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in mi_collect(false) }
        }
    }
}
