import Testing
@testable import VerseRuntime

@Suite("cluster page: events from view changes")
struct ClusterEventsTests {
    @Test func joinsDeparturesAndMovesGroupedByOwners() {
        var before = ShardMap(shardCount: 8)
        let a = before.index(of: "a"), b = before.index(of: "b")
        before.current = [a, a, a, a, b, b, b, b]
        before.epoch = 1
        var after = before
        let c = after.index(of: "c")
        after.current = [a, a, c, c, c, b, b, ShardMap.none]
        after.epoch = 2
        let texts = ClusterEvents.changes(from: (before, ["a", "b"], ["g1"]), to: (after, ["a", "c"], ["g1", "g2"]))
        #expect(texts == ["node c joined", "node b left", "gate g2 joined",
                          "2 shards: a -> c", "1 shards: b -> c", "1 shards: b -> nobody"])
        #expect(ClusterEvents.changes(from: (after, ["a"], []), to: (after, ["a"], [])).isEmpty)
    }

    @Test func theLogKeepsTheLastEventsOnly() {
        let events = ClusterEvents(capacity: 3)
        events.record(["1", "2"], at: 10)
        events.record(["3", "4"], at: 20)
        #expect(events.recent.map(\.text) == ["2", "3", "4"])
        #expect(events.recent.map(\.time) == [10, 20, 20])
    }
}
