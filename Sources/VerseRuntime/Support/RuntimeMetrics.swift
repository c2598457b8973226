import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import VerseGRPC

/// The runtime's metrics (swift-metrics, `swiftverse_` names, units in the names,
/// labels of bounded cardinality: object types, never ids). Instruments are made once.
enum RuntimeMetrics {
    // gate
    static let pushesDelivered = Counter(label: "swiftverse_gate_pushes_delivered_total")
    static let pushBytes = Counter(label: "swiftverse_gate_push_bytes_total")
    static let pushesToAbsentClients = Counter(label: "swiftverse_gate_pushes_to_absent_clients_total")
    static let clientsCutOff = Counter(label: "swiftverse_gate_clients_cut_off_total")
    /// Logins refused for wrong credentials, and attempts refused unchecked because the
    /// user name or address must still wait (LoginThrottle).
    static let loginFailures = Counter(label: "swiftverse_gate_login_failures_total")
    static let loginsThrottled = Counter(label: "swiftverse_gate_logins_throttled_total")
    static let grpcClients = Gauge(label: "swiftverse_gate_clients", dimensions: [("transport", "grpc")])
    static let eventStreamClients = Gauge(label: "swiftverse_gate_clients", dimensions: [("transport", "sse")])

    /// Event-stream bytes written to HTTP/1.1 sockets and not yet taken by the kernel
    /// (HTTP/2 streams' queues are in swiftverse_http2_queued_data_bytes).
    static let eventStreamQueuedBytes = Meter(label: "swiftverse_gate_event_stream_queued_bytes")
    /// From a push's start to the last recipient's bytes handed to the socket (see
    /// PushOrigin): `from` "call" when the push began with a call's arrival at an object
    /// in this process (embedded), "push" when it began at the push's arrival at the gate.
    static let fanOutFromCall = Timer(label: "swiftverse_gate_fanout_duration_seconds", dimensions: [("from", "call")])
    static let fanOutFromPush = Timer(label: "swiftverse_gate_fanout_duration_seconds", dimensions: [("from", "push")])

    // node
    static let activeObjects = ByLabel { Gauge(label: "swiftverse_node_active_objects", dimensions: [("type", $0)]) }
    /// Calls waiting for or running in an object's mailbox, over all objects; the most
    /// any one object has (set before each scrape).
    static let mailboxCalls = Gauge(label: "swiftverse_node_mailbox_calls")
    static let deepestMailbox = Gauge(label: "swiftverse_node_mailbox_max_depth")
    static let storeWrites = Counter(label: "swiftverse_node_store_writes_total")
    static let storeEntries = Counter(label: "swiftverse_node_store_entries_total")
    static let storeFailedWrites = Counter(label: "swiftverse_node_store_failed_writes_total")
    static let storeWriteDuration = Timer(label: "swiftverse_node_store_write_duration_seconds")
    /// Activations of each object type (object types are few and fixed: bounded labels).
    static let activations = ByLabel { Counter(label: "swiftverse_node_activations_total", dimensions: [("type", $0)]) }
    static let deactivations = ByLabel { (key: Deactivation) in
        Counter(label: "swiftverse_node_deactivations_total", dimensions: [("type", key.type), ("reason", key.reason.rawValue)])
    }
    // hand-overs: shards this node gave up and took, and the objects' state carried along
    static let shardsReleased = Counter(label: "swiftverse_node_shards_released_total")
    static let shardsClaimed = Counter(label: "swiftverse_node_shards_claimed_total")
    static let handedOverSent = Counter(label: "swiftverse_node_handed_over_objects_total", dimensions: [("direction", "sent")])
    static let handedOverReceived = Counter(label: "swiftverse_node_handed_over_objects_total", dimensions: [("direction", "received")])

    // coordination
    /// 1 while this process is registered with the coordination store under a live lease.
    static let sessionUp = Gauge(label: "swiftverse_coordination_session_up")
    static let sessionsLost = ByLabel { Counter(label: "swiftverse_coordination_sessions_lost_total", dimensions: [("reason", $0)]) }
    static let keepAliveDuration = Timer(label: "swiftverse_coordination_keepalive_duration_seconds")
    static let secondsSinceMapChange = Gauge(label: "swiftverse_cluster_seconds_since_map_change")
    static let grpcConnections = Gauge(label: "swiftverse_grpc_server_connections")
    static let httpConnections = Gauge(label: "swiftverse_http_connections")
    static let httpConnectionsRefused = Counter(label: "swiftverse_http_connections_refused_total")

    // cluster (set before each scrape)
    static let mapEpoch = Gauge(label: "swiftverse_cluster_map_epoch")
    static let liveNodes = Gauge(label: "swiftverse_cluster_live_nodes")
    static let liveGates = Gauge(label: "swiftverse_cluster_live_gates")
    static let leader = Gauge(label: "swiftverse_cluster_leader")
    static let shardsOwned = Gauge(label: "swiftverse_node_shards_owned")
    static let ready = Gauge(label: "swiftverse_process_ready")
}

/// An object deactivated, for the deactivations counter: its type and why.
struct Deactivation: Hashable, Sendable {
    enum Reason: String, Sendable {
        /// Idle past its type's timeout.
        case idle
        /// Its shard left this node.
        case shardMoved = "shard_moved"
        /// A write to the store failed: it starts again from what is stored.
        case storeFailure = "store_failure"
        /// A client deleted it.
        case deleted
    }
    let type: String
    let reason: Reason
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

    /// `started`: NIODeadline uptime nanoseconds.
    func record(succeeded: Bool, since started: UInt64) {
        (succeeded ? answered : failed).increment()
        duration.recordNanoseconds(Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds &- started))
    }
}

extension Timer {
    /// Records a measured duration.
    func record(_ duration: Duration) {
        recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
