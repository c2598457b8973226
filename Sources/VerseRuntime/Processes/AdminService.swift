import VerseGRPC
import VerseProtobuf

/// `verse.Admin`: every process's status for operators and tests (readiness, members,
/// the map's epoch, what this process serves and holds).
enum AdminService {
    static func make(role: ClusterProcess.Role, address: String, view: ClusterView, node: Node?, gate: Gate?,
                                     coordinator: ShardCoordinator) -> GRPCService {
        var service = GRPCService(name: "verse.Admin")
        service.unary("Status") { (_: Verse_StatusRequest, _) -> Verse_StatusResponse in
            var status = Verse_StatusResponse()
            status.ready = view.isReady
            status.settled = view.isSettled
            status.liveNodes = view.liveNodes.sorted()
            status.liveGates = view.liveGates.sorted()
            status.mapEpoch = view.map.epoch
            status.role = role.rawValue
            status.address = address
            status.shardsServed = Int32(node.map { view.map.shards(servedBy: $0.address).count } ?? 0)
            status.activeObjects = Int32(node?.activeObjectCount ?? 0)
            status.connectedClients = Int32(gate?.clientCount ?? 0)
            status.leader = coordinator.isLeader
            status.pushesDropped = Int64(node?.pushes.droppedPushes ?? 0)
            status.slowClientsDisconnected = Int64(gate?.slowClientsDisconnected ?? 0)
            if let written = node?.storeStatistics.current {
                status.storeWrites = Int64(written.writes)
                status.storeEntries = Int64(written.entries)
                status.storeFailedWrites = Int64(written.failedWrites)
            }
            return status
        }
        return service
    }
}
