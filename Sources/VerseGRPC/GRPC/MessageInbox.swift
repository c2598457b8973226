import NIOConcurrencyHelpers
import NIOCore

/// Hands received messages from the event loop to the task that reads them.
///
/// Bytes count as consumed (and the HTTP/2 window reopens) only when the reader takes
/// a message, so a reader that stops reading stops its sender instead of growing this
/// queue: the queue is bounded by the stream's receive window.
final class MessageInbox: Sendable {
    private struct State {
        var messages: [ReceivedMessage] = []
        var head = 0
        var end: GRPCStatus?
        var waiter: CheckedContinuation<ReceivedMessage?, Error>?
        var unreportedConsumption = 0
    }

    private let state = NIOLockedValueBox(State())
    /// Called (from the reader's task) with bytes consumed; hops to the event loop.
    private let onConsumed: @Sendable (Int) -> Void
    /// Report consumption in batches of at least this many bytes (or when idle).
    private let reportThreshold: Int

    init(reportThreshold: Int, onConsumed: @escaping @Sendable (Int) -> Void) {
        self.reportThreshold = reportThreshold
        self.onConsumed = onConsumed
    }

    /// Event loop: a whole message arrived.
    func push(_ message: ReceivedMessage) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<ReceivedMessage?, Error>? in
            guard state.end == nil else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.messages.append(message)
            return nil
        }
        if let waiter {
            report(consumed: message.wireSize, idle: true)
            waiter.resume(returning: message)
        }
    }

    /// Event loop: no more messages. `.ok` ends the sequence normally; any other
    /// status is thrown to the reader after the messages already queued.
    func finish(_ status: GRPCStatus) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<ReceivedMessage?, Error>? in
            guard state.end == nil else { return nil }
            state.end = status
            defer { state.waiter = nil }
            return state.waiter
        }
        if status.isOK { waiter?.resume(returning: nil) } else { waiter?.resume(throwing: status) }
    }

    /// Takes every queued message at once (switching a call to direct delivery).
    func drainQueued() -> [ReceivedMessage] {
        let queued = state.withLockedValue { state -> [ReceivedMessage] in
            defer {
                state.messages.removeAll()
                state.head = 0
            }
            return Array(state.messages[state.head...])
        }
        let bytes = queued.reduce(0) { $0 + $1.wireSize }
        if bytes > 0 { report(consumed: bytes, idle: true) }
        return queued
    }

    /// Reader: the next message, nil at the end, or the call's failure.
    func next() async throws -> ReceivedMessage? {
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ReceivedMessage?, Error>) in
                enum Outcome { case message(ReceivedMessage, Bool), end(GRPCStatus), wait }
                let outcome = state.withLockedValue { state -> Outcome in
                    if state.head < state.messages.count {
                        let message = state.messages[state.head]
                        state.head += 1
                        if state.head == state.messages.count {
                            state.messages.removeAll(keepingCapacity: true)
                            state.head = 0
                        }
                        return .message(message, state.messages.isEmpty)
                    }
                    if let end = state.end { return .end(end) }
                    state.waiter = continuation
                    return .wait
                }
                switch outcome {
                case .message(let message, let idle):
                    report(consumed: message.wireSize, idle: idle)
                    continuation.resume(returning: message)
                case .end(let status):
                    if status.isOK { continuation.resume(returning: nil) } else { continuation.resume(throwing: status) }
                case .wait:
                    if Task.isCancelled { cancelWaiter() }
                }
            }
        } onCancel: {
            cancelWaiter()
        }
    }

    private func cancelWaiter() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<ReceivedMessage?, Error>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: CancellationError())
    }

    private func report(consumed bytes: Int, idle: Bool) {
        let batch = state.withLockedValue { state -> Int in
            state.unreportedConsumption += bytes
            guard idle || state.unreportedConsumption >= reportThreshold else { return 0 }
            defer { state.unreportedConsumption = 0 }
            return state.unreportedConsumption
        }
        if batch > 0 { onConsumed(batch) }
    }
}
