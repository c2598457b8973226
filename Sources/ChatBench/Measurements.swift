import Histogram
import NIOConcurrencyHelpers

/// Everything the run counts. Only messages sent inside the measured window count
/// toward sent/expected/delivered and the latency histograms; warmup and drain traffic
/// flows but is not measured.
final class Measurements: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NIOLock()
    private var windowStart = UInt64.max
    private var windowEnd = UInt64.max

    private(set) var sentAll = 0
    private(set) var sent = 0
    private(set) var expected = 0
    private(set) var delivered = 0
    private(set) var deliveredAll = 0
    private(set) var sendErrors = 0
    private(set) var firstSendError: String?
    private(set) var outOfOrder = 0
    /// Seq checks: pushes repeated, jumps seen, messages they were missing, fetched back.
    private(set) var seqRepeats = 0
    private(set) var seqGaps = 0
    private(set) var seqMissing = 0
    private(set) var seqRecovered = 0
    private(set) var firstGapError: String?
    private(set) var latency = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    private(set) var callLatency = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    private var recent = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
    private var lastSequence: [Int: Int] = [:]

    func openWindow(at nanos: UInt64) { lock.withLock { windowStart = nanos } }
    func closeWindow(at nanos: UInt64) { lock.withLock { windowEnd = nanos } }

    private func inWindow(_ nanos: UInt64) -> Bool { nanos >= windowStart && nanos < windowEnd }

    /// A SendMessage call finished; `audience` is how many reading members should get it.
    func recordSend(sentNanos: UInt64, finishedNanos: UInt64, audience: Int, error: Error?) {
        lock.withLock {
            sentAll += 1
            if let error {
                sendErrors += 1
                if firstSendError == nil { firstSendError = "\(error)" }
                return
            }
            guard inWindow(sentNanos) else { return }
            sent += 1
            expected += audience
            _ = callLatency.record((finishedNanos - sentNanos) / 1000)
        }
    }

    /// A push arrived (or, `recovered`, a message a lost push held was fetched back: it
    /// comes after later ones, so it is not an ordering error).
    func recordDelivery(receiver: Int, stamp: BenchStamp, receivedNanos: UInt64, recovered: Bool = false) {
        let micros = (receivedNanos &- stamp.sentNanos) / 1000
        lock.withLock {
            deliveredAll += 1
            if !recovered {
                let key = receiver << 20 | stamp.sender
                if let last = lastSequence[key], stamp.sequence <= last { outOfOrder += 1 }
                lastSequence[key] = stamp.sequence
            }
            guard inWindow(stamp.sentNanos) else { return }
            delivered += 1
            _ = latency.record(micros)
            _ = recent.record(micros)
        }
    }

    func record(_ event: BenchClient.SeqEvent) {
        lock.withLock {
            switch event {
            case .repeated: seqRepeats += 1
            case .gap(let missing, let fetched):
                seqGaps += 1
                seqMissing += missing
                seqRecovered += fetched
            case .gapFetchFailed(let missing, let error):
                seqGaps += 1
                seqMissing += missing
                if firstGapError == nil { firstGapError = error }
            }
        }
    }

    /// For the progress line: deliveries so far and the p99 since the last call.
    func progress() -> (sentAll: Int, deliveredAll: Int, recentP99: UInt64) {
        lock.withLock {
            defer { recent.reset() }
            return (sentAll, deliveredAll, recent.totalCount > 0 ? recent.valueAtPercentile(99) : 0)
        }
    }

    func snapshot<T>(_ body: (Measurements) -> T) -> T {
        lock.withLock { body(self) }
    }
}
