import FoundationEssentials
import VerseGRPC
import VerseProtobuf

/// The cluster as the cluster page shows it (`GET /api/v1/cluster`, JSON): members and
/// what each holds (asked of each, `verse.Admin/Status`, briefly), the shard map's owner
/// and target per shard, and the recent events this process saw.
struct ClusterReport: Encodable {
    struct Member: Encodable {
        var address: String
        var live: Bool
        /// Shards it serves and is targeted to serve (nodes).
        var serving: Int?
        var targeted: Int?
        var activeObjects: Int?
        var clients: Int?
        var leader: Bool?
        /// It did not answer Status in time.
        var unreachable: Bool?
    }

    struct Event: Encodable {
        var time: Int64
        var text: String
    }

    var time: Int64
    var epoch: Int64
    var shardCount: Int
    var ready: Bool
    var settled: Bool
    var nodes: [Member]
    var gates: [Member]
    /// Per shard, an index into `nodes` (-1: none): its owner now, and its target.
    var current: [Int]
    var target: [Int]
    var events: [Event]

    static func json(view: ClusterView, links: NodeLinks) async -> String {
        let map = view.map
        let liveNodes = view.liveNodes, liveGates = view.liveGates
        // Every node the map names, and live ones it does not name yet.
        let nodeAddresses = map.nodes + liveNodes.subtracting(map.nodes).sorted()
        let statuses = await withTaskGroup(of: (String, Verse_StatusResponse?).self) { group in
            for address in Set(nodeAddresses).filter(liveNodes.contains).union(liveGates) {
                group.addTask {
                    let status: Verse_StatusResponse? = try? await links.link(to: address).client.unary(
                        "/verse.Admin/Status", request: Verse_StatusRequest(), timeout: .seconds(1))
                    return (address, status)
                }
            }
            var all: [String: Verse_StatusResponse?] = [:]
            for await (address, status) in group { all[address] = status }
            return all
        }
        var serving = [Int](repeating: 0, count: nodeAddresses.count), targeted = serving
        let current = map.current.map(Int.init), target = map.target.map(Int.init)
        for shard in 0..<map.shardCount {
            if current[shard] >= 0 && current[shard] < serving.count { serving[current[shard]] += 1 }
            if target[shard] >= 0 && target[shard] < targeted.count { targeted[target[shard]] += 1 }
        }
        let nodes = nodeAddresses.enumerated().map { index, address -> Member in
            let live = liveNodes.contains(address)
            let status = statuses[address] ?? nil
            return Member(address: address, live: live, serving: serving[index], targeted: targeted[index],
                          activeObjects: status.map { Int($0.activeObjects) }, leader: status?.leader,
                          unreachable: live && status == nil ? true : nil)
        }
        let gates = liveGates.sorted().map { address -> Member in
            let status = statuses[address] ?? nil
            return Member(address: address, live: true, clients: status.map { Int($0.connectedClients) },
                          unreachable: status == nil ? true : nil)
        }
        let report = ClusterReport(time: WallClock.unixMicros() / 1000, epoch: map.epoch, shardCount: map.shardCount,
                                   ready: view.isReady, settled: view.isSettled, nodes: nodes, gates: gates,
                                   current: current, target: target,
                                   events: view.events.recent.reversed().map { Event(time: $0.time, text: $0.text) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
