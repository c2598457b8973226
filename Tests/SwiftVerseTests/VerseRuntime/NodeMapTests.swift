import NIOPosix
import Testing
@testable import VerseRuntime

@Suite("node map adoption")
struct NodeMapTests {
    @Test func anOlderMapArrivingLateIsIgnored() {
        let node = Node(address: "n1", objectTypes: [], shardCount: 8, eventLoops: MultiThreadedEventLoopGroup.singleton)
        var newer = ShardMap(shardCount: 8)
        let me = newer.index(of: "n1")
        newer.target = Array(repeating: me, count: 8)
        newer.current = newer.target
        newer.revision = 5
        var older = ShardMap(shardCount: 8) // nobody owns anything yet
        older.revision = 3
        #expect(node.adopt(newer) == [])
        #expect(node.adopt(older) == nil) // stale: would have taken every shard away
        #expect(node.shardMap.shards(servedBy: "n1").count == 8)
        var moved = newer
        moved.current[0] = ShardMap.none
        moved.revision = 6
        #expect(node.adopt(moved) == [0])
    }
}
