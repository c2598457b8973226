import Synchronization
import Testing
import VerseGateClient
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects

@Suite("gate: departures")
struct DepartureReporterTests {
    /// Records the batches the reporter sends; each report takes a while, like an RPC
    /// (long enough that the 100 departures below, made in a loop, all fall within one).
    final class Recorder: Sendable {
        let batches = Mutex<[[String]]>([])
        func report(_ batch: [String]) async {
            try? await Task.sleep(for: .milliseconds(300))
            batches.withLock { $0.append(batch) }
        }
    }

    @Test func clientsLeavingTogetherAreReportedInFewBatchesEachOnceInOrder() async throws {
        let recorder = Recorder()
        let reporter = DepartureReporter(report: recorder.report)
        let leaving = (0..<100).map { "client-\($0)" }
        for client in leaving { reporter.clientLeft(client) } // a shared connection drops
        for _ in 0..<3000 where recorder.batches.withLock({ $0.joined().count }) < leaving.count {
            try await Task.sleep(for: .milliseconds(10))
        }
        let batches = recorder.batches.withLock { $0 }
        #expect(Array(batches.joined()) == leaving)
        #expect(batches.count <= 3, "one report per client would be 100: got \(batches.count)")

        reporter.clientLeft("late") // after a quiet spell, a new report starts
        for _ in 0..<3000 where recorder.batches.withLock({ $0.last != ["late"] }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(recorder.batches.withLock { $0.last } == ["late"])
    }
}
