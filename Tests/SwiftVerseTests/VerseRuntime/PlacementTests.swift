import NIOPosix
import Testing
@testable import VerseRuntime

@Suite("placement: shard hash, assignment")
struct PlacementTests {
    @Test func fnv1aMatchesKnownVectors() {
        // Published FNV-1a 32-bit test vectors.
        #expect(ShardID.fnv1a32("") == 0x811c_9dc5)
        #expect(ShardID.fnv1a32("a") == 0xe40c_292c)
        #expect(ShardID.fnv1a32("foobar") == 0xbf9c_f968)
    }

    @Test func shardsFollowTheHashUnlessPinned() {
        #expect(ShardID.of("foobar") == Int(0xbf9c_f968 % 8192))
        #expect(ShardID.of("ChatRoom-General") == Int(ShardID.fnv1a32("ChatRoom-General") % 8192))
        #expect(ShardID.of("shard#17/anything") == 17)
        #expect(ShardID.of("shard#8191/x") == 8191)
        #expect(ShardID.of("shard#9000/x") == Int(ShardID.fnv1a32("shard#9000/x") % 8192)) // out of range: hashed
        #expect(ShardID.of("shard#abc/x") == Int(ShardID.fnv1a32("shard#abc/x") % 8192))
        #expect(ShardID.of("shard#5") == Int(ShardID.fnv1a32("shard#5") % 8192)) // no slash: hashed
        #expect(ShardID.of("x", count: 7) < 7)
    }

    static func settled(_ map: ShardMap) -> ShardMap {
        var map = map
        map.current = map.target
        return map
    }

    @Test func aFirstNodeGetsEveryShard() {
        let map = ShardAssigner.assign(ShardMap(shardCount: 64), liveNodes: ["a"], maxMovesInFlight: 16)
        #expect(Set(map.target.map { map.nodes[Int($0)] }) == ["a"])
        #expect(map.epoch == 1)
    }

    @Test func aJoiningNodeTakesItsShareInBoundedBatches() {
        var map = Self.settled(ShardAssigner.assign(ShardMap(shardCount: 64), liveNodes: ["a"], maxMovesInFlight: 16))
        var rounds = 0
        while true {
            let next = ShardAssigner.assign(map, liveNodes: ["a", "b"], maxMovesInFlight: 10)
            let moving = (0..<64).filter { next.target[$0] != next.current[$0] }.count
            #expect(moving <= 10)
            if next.target == map.target { break }
            map = Self.settled(next) // the moves complete
            rounds += 1
        }
        #expect(rounds == 4) // 32 shards to move, 10 at a time
        let owners = map.target.map { map.nodes[Int($0)] }
        #expect(owners.filter { $0 == "a" }.count == 32)
        #expect(owners.filter { $0 == "b" }.count == 32)
    }

    @Test func aDeadNodesShardsMoveAtOnceAndStayBalanced() {
        var map = Self.settled(ShardAssigner.assign(ShardMap(shardCount: 90), liveNodes: ["a", "b", "c"], maxMovesInFlight: 1000))
        let before = map.target.map { map.nodes[Int($0)] }
        #expect(before.filter { $0 == "c" }.count == 30)
        map = ShardAssigner.assign(map, liveNodes: ["a", "b"], maxMovesInFlight: 0) // no budget: failover ignores it
        let after = map.target.map { map.nodes[Int($0)] }
        #expect(!after.contains("c"))
        #expect(after.filter { $0 == "a" }.count == 45)
        // Shards that were on a live node stay where they are.
        #expect(zip(before, after).allSatisfy { $0 == "c" || $0 == $1 })
    }

    @Test func readinessNeedsALiveServingOwnerForEveryShard() {
        var map = ShardAssigner.assign(ShardMap(shardCount: 8), liveNodes: ["a"], maxMovesInFlight: 8)
        #expect(!map.isReady(live: ["a"])) // targeted, not yet claimed
        map = Self.settled(map)
        #expect(map.isReady(live: ["a"]))
        #expect(!map.isReady(live: ["b"]))
        #expect(map.owner(of: 3) == "a")
        #expect(map.shards(servedBy: "a").count == 8)
    }

    /// The state the flaky etcd-outage test lacked: a second node is live and every
    /// shard has a live owner (ready), but half the shards are still due to move.
    @Test func settledMeansNoShardIsMovingOrDueToMove() {
        let one = Self.settled(ShardAssigner.assign(ShardMap(shardCount: 8), liveNodes: ["a"], maxMovesInFlight: 8))
        #expect(one.isSettled(live: ["a"]))
        #expect(one.isReady(live: ["a", "b"]) && !one.isSettled(live: ["a", "b"])) // b joined, nothing moved yet
        let moving = ShardAssigner.assign(one, liveNodes: ["a", "b"], maxMovesInFlight: 8)
        #expect(!moving.isSettled(live: ["a", "b"])) // targets changed, not yet claimed
        var released = moving
        for shard in 0..<8 where released.target[shard] != released.current[shard] { released.current[shard] = ShardMap.none }
        #expect(!released.isReady(live: ["a", "b"]) && !released.isSettled(live: ["a", "b"])) // in transit
        let balanced = Self.settled(moving)
        #expect(balanced.isSettled(live: ["a", "b"]))
        #expect(!balanced.isSettled(live: ["a", "b", "c"]))
    }
}
