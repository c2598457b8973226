/// Exponential backoff for reconnect loops: waits `first`, then twice as long each
/// time, up to `limit`; `reset()` after a success starts again from `first`.
public struct RetryBackoff: Sendable {
    public let first: Duration
    public let limit: Duration
    public private(set) var next: Duration

    public init(first: Duration, limit: Duration) {
        self.first = first
        self.limit = limit
        self.next = first
    }

    /// Sleeps for the current delay and doubles the next one. Throws if cancelled.
    public mutating func wait() async throws {
        let delay = next
        next = min(next * 2, limit)
        try await Task.sleep(for: delay)
    }

    public mutating func reset() {
        next = first
    }
}
