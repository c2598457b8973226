import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// One method's metrics on one side (swift-metrics; whichever backend the process
/// bootstrapped, none by default): calls by status code, and their duration. Made once
/// per method (servers: when built; clients: at the method's first call); a code's
/// counter on its first call, so the exposition lists only the codes that happened.
final class GRPCCallMetrics: Sendable {
    enum Side: String { case server, client }

    private let labels: [(String, String)]
    private let callsLabel: String
    private let calls = NIOLockedValueBox<[Counter?]>(Array(repeating: nil, count: GRPCStatus.Code.allCases.count))
    /// Most calls end OK: their counter is made up front and needs no lock.
    private let ok: Counter
    private let duration: Timer

    init(service: String, method: String, side: Side = .server) {
        labels = [("service", service), ("method", method)]
        callsLabel = "swiftverse_grpc_\(side.rawValue)_calls_total"
        duration = Timer(label: "swiftverse_grpc_\(side.rawValue)_call_duration_seconds", dimensions: labels)
        ok = Counter(label: callsLabel, dimensions: labels + [("code", "\(GRPCStatus.Code.ok)")])
    }

    /// A client's metrics for `path` (`/service/method`), made once per path.
    static func client(path: String) -> GRPCCallMetrics { clientMetrics[path] }

    private static let clientMetrics = ByLabel { (path: String) in
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return GRPCCallMetrics(service: parts.first.map(String.init) ?? "unknown",
                               method: parts.count > 1 ? String(parts[1]) : "unknown", side: .client)
    }

    private func counter(_ code: GRPCStatus.Code) -> Counter {
        calls.withLockedValue { calls in
            if let counter = calls[code.rawValue] { return counter }
            let counter = Counter(label: callsLabel, dimensions: labels + [("code", "\(code)")])
            calls[code.rawValue] = counter
            return counter
        }
    }

    /// A call that began at `started` (uptime nanoseconds) ended with `code`.
    func record(_ code: GRPCStatus.Code, startedAt started: UInt64) {
        (code == .ok ? ok : counter(code)).increment()
        duration.recordNanoseconds(Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- started))
    }
}
