import NIOCore

/// Writers suspended until a stream's outbound queue falls below its watermark: one list
/// per call, released together when the stream becomes writable or the call ends.
struct WriteWaiters {
    private var waiting: [EventLoopPromise<Void>] = []

    /// A future that completes when the writer may go on (or fails when the call ends).
    mutating func wait(on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        waiting.append(promise)
        return promise.futureResult
    }

    /// The stream drained below its watermark: every writer goes on.
    mutating func resumeAll() {
        guard !waiting.isEmpty else { return }
        let resumed = waiting
        waiting.removeAll()
        for promise in resumed { promise.succeed() }
    }

    /// The call ended: every writer fails with `error`. (Made only if someone waits:
    /// every call ends here, few have a writer waiting, and boxing an error allocates.)
    mutating func failAll(_ error: @autoclosure () -> Error) {
        guard !waiting.isEmpty else { return }
        let failed = waiting
        waiting.removeAll()
        let error = error()
        for promise in failed { promise.fail(error) }
    }
}
