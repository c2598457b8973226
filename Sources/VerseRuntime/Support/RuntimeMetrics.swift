import CoreMetrics
import NIOConcurrencyHelpers

/// The runtime's metrics (swift-metrics, `swiftverse_` names, units in the names,
/// labels of bounded cardinality: object types, never ids). Instruments are made once.
enum RuntimeMetrics {
    // gate
    static let pushesDelivered = Counter(label: "swiftverse_gate_pushes_delivered_total")
    static let pushBytes = Counter(label: "swiftverse_gate_push_bytes_total")
    static let pushesToAbsentClients = Counter(label: "swiftverse_gate_pushes_to_absent_clients_total")
    static let clientsCutOff = Counter(label: "swiftverse_gate_clients_cut_off_total")
    static let grpcClients = Gauge(label: "swiftverse_gate_clients", dimensions: [("transport", "grpc")])
    static let eventStreamClients = Gauge(label: "swiftverse_gate_clients", dimensions: [("transport", "sse")])

    // node
    static let activeObjects = Gauge(label: "swiftverse_node_active_objects")
    static let storeWrites = Counter(label: "swiftverse_node_store_writes_total")
    static let storeEntries = Counter(label: "swiftverse_node_store_entries_total")
    static let storeFailedWrites = Counter(label: "swiftverse_node_store_failed_writes_total")
    static let storeWriteDuration = Timer(label: "swiftverse_node_store_write_duration_seconds")

    private static let activationCounters = NIOLockedValueBox<[String: Counter]>([:])

    /// Activations of `type` (object types are few and fixed: bounded labels).
    static func activations(of type: String) -> Counter {
        activationCounters.withLockedValue { counters in
            if let counter = counters[type] { return counter }
            let counter = Counter(label: "swiftverse_node_activations_total", dimensions: [("type", type)])
            counters[type] = counter
            return counter
        }
    }

    // cluster (set before each scrape)
    static let mapEpoch = Gauge(label: "swiftverse_cluster_map_epoch")
    static let liveNodes = Gauge(label: "swiftverse_cluster_live_nodes")
    static let liveGates = Gauge(label: "swiftverse_cluster_live_gates")
    static let leader = Gauge(label: "swiftverse_cluster_leader")
    static let shardsOwned = Gauge(label: "swiftverse_node_shards_owned")
    static let ready = Gauge(label: "swiftverse_process_ready")
}
