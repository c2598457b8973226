import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM, so servers can shut down gracefully instead of dying.
public enum TerminationSignal {
    /// Suspends until the process receives SIGINT or SIGTERM; returns the signal's name.
    public static func wait() async -> String {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "swiftverse.signals")
            let resumed = ResumeOnce(continuation)
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN) // let the dispatch source see it instead of the default action
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { resumed.resume(name) }
                source.resume()
                sources.append(source)
            }
            // The sources must outlive this scope; they live for the rest of the process.
            Retained.sources.append(contentsOf: sources)
        }
    }

    private final class ResumeOnce: @unchecked Sendable {
        // @unchecked: `continuation` is read and cleared only on the serial signal queue.
        private var continuation: CheckedContinuation<String, Never>?
        init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }
        func resume(_ name: String) {
            continuation?.resume(returning: name)
            continuation = nil
        }
    }

    private enum Retained {
        nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    }
}
