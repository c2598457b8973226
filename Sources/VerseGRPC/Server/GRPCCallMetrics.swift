import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// One method's server-side metrics (swift-metrics; whichever backend the process
/// bootstrapped, none by default): calls by status code, and their duration. Made once
/// per method when the server is built; a code's counter on its first call (so the
/// exposition lists only the codes that happened).
final class GRPCCallMetrics: Sendable {
    private let labels: [(String, String)]
    private let calls = NIOLockedValueBox<[Counter?]>(Array(repeating: nil, count: GRPCStatus.Code.allCases.count))
    private let duration: Timer

    init(service: String, method: String) {
        labels = [("service", service), ("method", method)]
        duration = Timer(label: "swiftverse_grpc_server_call_duration_seconds", dimensions: labels)
    }

    private func counter(_ code: GRPCStatus.Code) -> Counter {
        calls.withLockedValue { calls in
            if let counter = calls[code.rawValue] { return counter }
            let counter = Counter(label: "swiftverse_grpc_server_calls_total", dimensions: labels + [("code", "\(code)")])
            calls[code.rawValue] = counter
            return counter
        }
    }

    /// A call that began at `started` (uptime nanoseconds) ended with `code`.
    func record(_ code: GRPCStatus.Code, startedAt started: UInt64) {
        counter(code).increment()
        duration.recordNanoseconds(Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- started))
    }
}
