import Testing
@testable import VerseRuntime

@Suite("placement: a node's claims and releases")
struct ShardClaimsTests {
    /// Shards 0-3 targeted at a, 4-7 at b; `current` as given (names, or nil for free).
    static func map(current: [String?]) -> ShardMap {
        var map = ShardMap(shardCount: 8)
        let a = map.index(of: "a"), b = map.index(of: "b")
        map.target = [a, a, a, a, b, b, b, b]
        map.current = current.map { owner in owner.map { map.index(of: $0) } ?? ShardMap.none }
        return map
    }

    @Test func aNodeReleasesOnlyWhatItServesAndIsTargetedElsewhere() {
        let map = Self.map(current: ["a", "b", nil, "a", "a", "b", "a", nil])
        #expect(ShardClaims.toRelease(by: "a", in: map) == [4, 6])
        #expect(ShardClaims.toRelease(by: "b", in: map) == [1])
        #expect(ShardClaims.toRelease(by: "c", in: map) == [])
    }

    @Test func releasingFreesOnlyShardsTheNodeStillOwns() {
        var map = Self.map(current: ["a", "b", nil, "a", "a", "b", "a", nil])
        ShardClaims.release([0, 1, 4], by: "a", in: &map)
        #expect(map.owner(of: 0) == nil)
        #expect(map.owner(of: 1) == "b") // not a's to free
        #expect(map.owner(of: 4) == nil)
        #expect(map.owner(of: 3) == "a") // not asked
    }

    @Test func aNodeClaimsItsTargetedShardsThatAreFreeOrHaveADeadOwner() {
        var map = Self.map(current: ["b", nil, "c", "a", "a", nil, "b", "b"])
        // b and a are live; c is not.
        let takenFrom = ShardClaims.claim(for: "a", live: ["a", "b"], in: &map)
        #expect(map.owner(of: 0) == "b") // b is live and has not released it
        #expect(map.owner(of: 1) == "a") // free
        #expect(map.owner(of: 2) == "a") // its owner is dead
        #expect(map.owner(of: 3) == "a")
        #expect(takenFrom == ["c"]) // the write must check c is still gone
        // Shards targeted at b are never taken by a, even from a dead owner.
        #expect(map.owner(of: 4) == "a") // a had it already
        #expect(map.owner(of: 5) == nil)
    }

    @Test func claimingWithNothingToTakeLeavesTheMapAsItWas() {
        var map = Self.map(current: ["a", "a", "a", "a", "b", "b", "b", "b"])
        let before = map
        #expect(ShardClaims.claim(for: "a", live: ["a", "b"], in: &map).isEmpty)
        #expect(map == before)
    }
}
