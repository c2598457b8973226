import Dispatch
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM, so servers can shut down gracefully instead of dying.
/// Arm it before the server can be seen as ready (`arm`): a signal that comes before
/// anyone waits is kept for `wait`, not lost. (Arming sets the signals to SIG_IGN before
/// their dispatch sources take them: one arriving in between is discarded, so that
/// window must come before anyone has a reason to send one.)
public enum TerminationSignal {
    private struct State {
        var armed = false
        var received: String?
        var waiters: [CheckedContinuation<String, Never>] = []
    }

    /// The sources live for the rest of the process; touched only while `state` is locked.
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    private static let state = NIOLockedValueBox(State())

    /// Starts catching SIGINT and SIGTERM (idempotent).
    public static func arm() {
        state.withLockedValue { state in
            guard !state.armed else { return }
            state.armed = true
            let queue = DispatchQueue(label: "swiftverse.signals")
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN) // let the dispatch source see it instead of the default action
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { received(name) }
                source.resume()
                sources.append(source)
            }
        }
    }

    private static func received(_ name: String) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<String, Never>] in
            if state.received == nil { state.received = name }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: name) }
    }

    /// Suspends until the process receives SIGINT or SIGTERM (or returns at once if it
    /// has since `arm`); returns the signal's name.
    public static func wait() async -> String {
        arm()
        return await withCheckedContinuation { continuation in
            let already = state.withLockedValue { state -> String? in
                if let received = state.received { return received }
                state.waiters.append(continuation)
                return nil
            }
            if let already { continuation.resume(returning: already) }
        }
    }
}
