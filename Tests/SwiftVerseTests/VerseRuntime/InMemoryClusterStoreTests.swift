import NIOConcurrencyHelpers
import Testing
@testable import VerseRuntime

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = NIOLockedValueBox(Duration.zero)
    var now: ContinuousClock.Instant { base + offset.withLockedValue { $0 } }
    func advance(by duration: Duration) { offset.withLockedValue { $0 += duration } }
}

@Suite("coordination: the in-memory cluster store")
struct InMemoryClusterStoreTests {
    @Test func keysOnALeaseGoWhenItExpiresUnlessRefreshed() throws {
        let clock = ManualClock()
        let store = InMemoryClusterStore(now: { clock.now })
        let kept = store.grantLeaseNow(ttl: 2), lapsed = store.grantLeaseNow(ttl: 2)
        try store.putNow("m/kept", [1], lease: kept.id)
        try store.putNow("m/lapsed", [2], lease: lapsed.id)
        try store.putNow("m/plain", [3], lease: 0)
        clock.advance(by: .milliseconds(1500))
        #expect(store.refresh(kept.id))
        clock.advance(by: .milliseconds(1500)) // lapsed is 3 s old, kept 1.5 s
        #expect(store.listNow(prefix: "m/").entries.map(\.key) == ["m/kept", "m/plain"])
        #expect(!store.refresh(lapsed.id))
        #expect(throws: StoreLeaseNotFound.self) { try store.putNow("m/again", [4], lease: lapsed.id) }
        store.revokeLeaseNow(kept.id)
        #expect(store.listNow(prefix: "m/").entries.map(\.key) == ["m/plain"])
    }

    @Test func compareAndSwapChecksEveryConditionAtOnce() throws {
        let store = InMemoryClusterStore()
        #expect(try store.putNow("map", [1], ifModRevisions: ["map": 0], lease: 0))
        #expect(try !store.putNow("map", [2], ifModRevisions: ["map": 0], lease: 0)) // exists now
        let revision = try #require(store.getNow("map")).modRevision
        try store.putNow("member", [9], lease: 0)
        // The map is unchanged but "member" must be absent: refused.
        #expect(try !store.putNow("map", [3], ifModRevisions: ["map": revision, "member": 0], lease: 0))
        #expect(store.getNow("map")?.value == [1])
        #expect(try store.putNow("map", [4], ifModRevisions: ["map": revision, "other": 0], lease: 0))
        #expect(store.getNow("map")?.value == [4])
    }

    @Test func aWatchFromARevisionSeesEveryLaterChangeInOrder() async throws {
        let clock = ManualClock()
        let store = InMemoryClusterStore(now: { clock.now })
        try store.putNow("p/a", [1], lease: 0)
        let start = store.revision
        try store.putNow("p/b", [2], lease: 0)
        try store.putNow("q/x", [0], lease: 0) // another prefix
        let lease = store.grantLeaseNow(ttl: 1)
        let events = store.watch(prefix: "p/", fromRevision: start + 1)
        try store.putNow("p/c", [3], lease: lease.id)
        clock.advance(by: .seconds(2))
        store.expireLeases()
        var seen: [String] = []
        for try await batch in events {
            seen += batch.map { "\($0.kind == .put ? "put" : "delete") \($0.entry.key)" }
            if seen.count == 3 { break }
        }
        #expect(seen == ["put p/b", "put p/c", "delete p/c"])
    }

    @Test func aWatchFromACompactedRevisionFails() async throws {
        let store = InMemoryClusterStore()
        for index in 0..<(InMemoryClusterStore.retainedEvents + 10) { try store.putNow("k", [UInt8(index & 0xff)], lease: 0) }
        let events = store.watch(prefix: "k", fromRevision: 1)
        await #expect(throws: StoreWatchCompacted.self) {
            for try await _ in events {}
        }
    }
}
