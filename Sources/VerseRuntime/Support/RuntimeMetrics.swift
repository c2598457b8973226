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

    static let keepAliveDuration = Timer(label: "swiftverse_coordination_keepalive_duration_seconds")
    static let secondsSinceMapChange = Gauge(label: "swiftverse_cluster_seconds_since_map_change")
    static let grpcConnections = Gauge(label: "swiftverse_grpc_server_connections")
    static let httpConnections = Gauge(label: "swiftverse_http_connections")

    // cluster (set before each scrape)
    static let mapEpoch = Gauge(label: "swiftverse_cluster_map_epoch")
    static let liveNodes = Gauge(label: "swiftverse_cluster_live_nodes")
    static let liveGates = Gauge(label: "swiftverse_cluster_live_gates")
    static let leader = Gauge(label: "swiftverse_cluster_leader")
    static let shardsOwned = Gauge(label: "swiftverse_node_shards_owned")
    static let ready = Gauge(label: "swiftverse_process_ready")
}

/// One object method's metrics on a node: calls that answered and that failed, and how
/// long they took (the mailbox wait and the store write included).
struct ObjectCallMetrics: Sendable {
    let answered: Counter
    let failed: Counter
    let duration: Timer

    init(type: String, method: String) {
        let labels = [("type", type), ("method", method)]
        answered = Counter(label: "swiftverse_node_object_calls_total", dimensions: labels + [("outcome", "ok")])
        failed = Counter(label: "swiftverse_node_object_calls_total", dimensions: labels + [("outcome", "error")])
        duration = Timer(label: "swiftverse_node_object_call_duration_seconds", dimensions: labels)
    }

    func record(succeeded: Bool, since started: ContinuousClock.Instant) {
        (succeeded ? answered : failed).increment()
        duration.record(ContinuousClock.now - started)
    }
}

extension Timer {
    /// Records a measured duration.
    func record(_ duration: Duration) {
        recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
