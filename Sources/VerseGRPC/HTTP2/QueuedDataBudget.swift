import NIOConcurrencyHelpers

/// The DATA queued on all of a process's HTTP/2 connections (bytes streams hold for
/// peers that do not read them yet), against the process's budget. Each connection
/// reports its own total once per flush; when the sum passes the budget, the connection
/// holding the most is told to shed its largest stream (on its own event loop), then the
/// next, until the sum is back under it. Each connection also keeps its own budget
/// (HTTP2Settings.maxQueuedBytesPerConnection), checked at every write.
public final class QueuedDataBudget: Sendable {
    /// The process's budget; nil: no limit. Set once at startup.
    public static let process = QueuedDataBudget()

    private struct Entry {
        var bytes: Int
        let shed: @Sendable () -> Void
    }

    private struct State {
        var limit: Int?
        var total = 0
        var connections: [ObjectIdentifier: Entry] = [:]
        /// The connection told to shed and not yet heard from since.
        var shedding: ObjectIdentifier?
    }

    private let state = NIOLockedValueBox(State())

    public var limit: Int? {
        get { state.withLockedValue { $0.limit } }
        set { state.withLockedValue { $0.limit = newValue } }
    }

    public var total: Int { state.withLockedValue { $0.total } }

    /// A connection's queued bytes now. `shed` makes it drop its largest stream.
    func report(_ connection: ObjectIdentifier, bytes: Int, shed: @escaping @Sendable () -> Void) {
        let target: (@Sendable () -> Void)? = state.withLockedValue { state in
            let before = state.connections[connection]?.bytes ?? 0
            state.total += bytes - before
            if bytes == 0 {
                state.connections[connection] = nil
            } else {
                state.connections[connection] = Entry(bytes: bytes, shed: shed)
            }
            if state.shedding == connection { state.shedding = nil }
            guard let limit = state.limit, state.total > limit, state.shedding == nil,
                  let largest = state.connections.max(by: { $0.value.bytes < $1.value.bytes }) else { return nil }
            state.shedding = largest.key
            return largest.value.shed
        }
        target?()
    }
}
