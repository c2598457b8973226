import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import VerseRuntime
import VerseSQLite

/// The real SQLite store, counting the writes that reach it.
final class CountingStore: ObjectStore {
    let inner: SQLiteObjectStore
    let writes = NIOLockedValueBox<[Int]>([]) // entries per write
    init(_ inner: SQLiteObjectStore) { self.inner = inner }
    var description: String { inner.description }
    func activate(_ key: ObjectKey) async throws -> StoredObject { try await inner.activate(key) }
    func write(_ key: ObjectKey, epoch: Int64, entries: [[UInt8]], snapshot: [UInt8]?) async throws -> Int64 {
        writes.withLockedValue { $0.append(entries.count) }
        return try await inner.write(key, epoch: epoch, entries: entries, snapshot: snapshot)
    }
    func entries(of key: ObjectKey, after number: Int64, limit: Int) async throws -> [JournalEntry] {
        try await inner.entries(of: key, after: number, limit: limit)
    }
    func close() async { await inner.close() }
}

@Suite("object store: the journal's group commit")
struct ObjectJournalTests {
    static let key = ObjectKey(type: "T", id: "t")
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test func changesRecordedWhileAWriteIsInFlightGoTogetherInOrder() async throws {
        let folder = try TemporaryFolder()
        let store = CountingStore(try SQLiteObjectStore(path: folder.path + "/j.sqlite"))
        let epoch = try await store.activate(Self.key).epoch
        let statistics = StoreStatistics()
        let journal = ObjectJournal(store: store, key: Self.key, epoch: epoch, eventLoop: Self.loop, statistics: statistics) { _, _ in }
        var last = 0
        for value in 0..<200 { last = journal.record([UInt8(value)]) }
        let pushed = NIOLockedValueBox(false)
        journal.afterDurable { pushed.withLockedValue { $0 = true } }
        try await journal.waitUntilDurable(last)
        #expect(pushed.withLockedValue { $0 })
        #expect(journal.pendingTicket == nil)
        let writes = store.writes.withLockedValue { $0 }
        #expect(writes.reduce(0, +) == 200)
        #expect(writes.count < 200, "one write per change: \(writes)") // at most the first goes alone
        #expect(statistics.current == StoreStatistics.Counts(writes: writes.count, entries: 200))
        let stored = try await store.activate(Self.key)
        #expect(stored.entries.map(\.bytes) == (0..<200).map { [UInt8($0)] })
        await store.close()
    }

    /// A write that completes while its object's loop is busy leaves its action to run
    /// there later; an action queued meanwhile, after a write of its own, must not
    /// overtake it (pushes of one room would reach its members out of order).
    @Test func actionsRunInTheOrderQueuedWhicheverThreadTheirWritesCompleteOn() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteObjectStore(path: folder.path + "/j.sqlite")
        let epoch = try await store.activate(Self.key).epoch
        let journal = ObjectJournal(store: store, key: Self.key, epoch: epoch, eventLoop: Self.loop,
                                    statistics: StoreStatistics()) { _, _ in }
        let order = NIOLockedValueBox<[String]>([])
        try await Self.loop.submit {
            let deadline = NIODeadline.now() + .seconds(10)
            journal.record([1])
            journal.afterDurable { order.withLockedValue { $0.append("first") } }
            // Both writes complete on the store's thread while this loop is busy.
            while journal.pendingTicket != nil && .now() < deadline { usleep(1000) }
            journal.record([2])
            while journal.pendingTicket != nil && .now() < deadline { usleep(1000) }
            journal.afterDurable { order.withLockedValue { $0.append("second") } }
        }.get()
        try await Self.loop.submit {}.get() // the loop's queued work has run
        #expect(order.withLockedValue { $0 } == ["first", "second"])
        await store.close()
    }

    @Test func aFencedWriteFailsEveryWaitingChangeAndWhatFollowsRunsNever() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteObjectStore(path: folder.path + "/j.sqlite")
        let epoch = try await store.activate(Self.key).epoch
        _ = try await store.activate(Self.key) // taken over elsewhere
        let failures = NIOLockedValueBox(0)
        let statistics = StoreStatistics()
        let journal = ObjectJournal(store: store, key: Self.key, epoch: epoch, eventLoop: Self.loop, statistics: statistics) { _, error in
            if error is StoreFenced { failures.withLockedValue { $0 += 1 } }
        }
        let ticket = journal.record([1])
        let pushed = NIOLockedValueBox(false)
        journal.afterDurable { pushed.withLockedValue { $0 = true } }
        await #expect(throws: StoreFenced.self) { try await journal.waitUntilDurable(ticket) }
        await #expect(throws: StoreFenced.self) { try await journal.waitUntilDurable(journal.record([2])) }
        #expect(!pushed.withLockedValue { $0 })
        #expect(failures.withLockedValue { $0 } == 1)
        #expect(statistics.current == StoreStatistics.Counts(writes: 0, entries: 0, failedWrites: 1))
        #expect(try await store.activate(Self.key).entries.isEmpty)
        await store.close()
    }
}
