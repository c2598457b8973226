import NIOCore

/// Runs Swift tasks on a NIO event loop (SE-0417 task executor preference).
///
/// Call handlers started with this preference run on the thread that owns their
/// connection: their reads, writes and completions need no thread switch, which on a
/// 2-core machine is most of the cost of a small call. The price is the usual
/// event-loop rule: a handler must not block (it may await freely).
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `eventLoop` is Sendable and immutable; no other state.
    let eventLoop: EventLoop

    init(_ eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}
