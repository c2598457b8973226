import Dispatch
import NIOConcurrencyHelpers

/// Runs an executable's async body from a synchronous `main`, blocking the main thread
/// until it finishes.
///
/// Why not `static func main() async`: Swift's async main parks the main thread in
/// `dispatch_main`, and valgrind 3.19 (Debian 12) crashes on that, which would rule out
/// callgrind instruction counts, the project's repeatable performance measure.
public enum BlockingMain {
    public static func run(_ body: @escaping @Sendable () async throws -> Void) throws {
        let outcome = NIOLockedValueBox<Result<Void, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await body()
                outcome.withLockedValue { $0 = .success(()) }
            } catch {
                outcome.withLockedValue { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        try outcome.withLockedValue { $0 }!.get()
    }
}
