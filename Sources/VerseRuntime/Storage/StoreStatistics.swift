import NIOConcurrencyHelpers

/// What a node's objects have written to the object store: writes (transactions) and
/// the journal entries they carried, whose ratio is the group-commit batch size.
public final class StoreStatistics: Sendable {
    public struct Counts: Sendable, Equatable {
        public var writes = 0
        public var entries = 0
        public var failedWrites = 0
        /// Journal entries per write (0 before the first).
        public var entriesPerWrite: Double { writes == 0 ? 0 : Double(entries) / Double(writes) }
    }

    private let counts = NIOLockedValueBox(Counts())

    public var current: Counts { counts.withLockedValue { $0 } }

    func recordWrite(entries: Int, took: Duration) {
        counts.withLockedValue {
            $0.writes += 1
            $0.entries += entries
        }
        RuntimeMetrics.storeWrites.increment()
        RuntimeMetrics.storeEntries.increment(by: Int64(entries))
        RuntimeMetrics.storeWriteDuration.record(took)
    }

    func recordFailedWrite() {
        counts.withLockedValue { $0.failedWrites += 1 }
        RuntimeMetrics.storeFailedWrites.increment()
    }
}
