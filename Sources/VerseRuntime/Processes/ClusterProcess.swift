import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import VerseEtcd
import VerseGRPC
import VerseProtobuf

/// How a process finds the rest of the cluster.
public enum Coordination: Sendable {
    /// One process, node and gate together, no etcd.
    case embedded
    /// etcd at `endpoint` (host:port), keys under `prefix`.
    case etcd(endpoint: String, prefix: String)
}

public struct ClusterSettings: Sendable {
    public var coordination: Coordination
    public var shardCount = ShardID.defaultCount
    /// Member lease TTL in seconds: how fast a dead member is noticed (etcd may raise it).
    public var leaseTTL: Int64 = 2
    /// Shards moving at once while rebalancing.
    public var maxMovesInFlight = 1024
    /// Check for idle objects this often.
    public var idleSweepInterval: Duration = .seconds(5)
    /// Event-loop threads; nil: one per CPU this process may run on (its affinity
    /// mask), so a process pinned to one CPU runs on one thread with no switches.
    public var eventLoops: Int?
    /// Required on calls to this node's NodeService and sent on calls to other nodes.
    /// nil: NodeService is open to anyone who can reach the port.
    public var clusterSecret: ClusterSecret?
    /// How this process reaches nodes: nil for cleartext, or TLS verified against a CA
    /// (for nodes that serve TLS).
    public var nodeTLS: TLSConfiguration?
    /// How this process reaches etcd: nil for cleartext, or TLS verified against a CA.
    public var etcdTLS: TLSConfiguration?
    /// Where durable objects keep their state (nodes); nil: in memory only. The process
    /// closes it when it stops.
    public var store: (any ObjectStore)?
    /// A node's own HTTP port for operators (/metrics, /healthz, /ready, /cluster); a
    /// gate's is in its Gate.Configuration. nil: none.
    public var operatorHTTP: HTTPGateConfiguration?

    public init(coordination: Coordination) {
        self.coordination = coordination
    }
}

/// A running SwiftVerse process: a node, a gate, or both (embedded), with its gRPC
/// server and its view of the cluster. Executables build one and call `run()`.
public final class ClusterProcess: Sendable {
    public enum Role: String, Sendable { case node, gate, embedded }

    public let role: Role
    public let view: ClusterView
    public let node: Node?
    public let gate: Gate?
    private let server: GRPCServer
    /// The gate's HTTP face (browsers), when configured.
    private let httpServer: HTTPGateServer?
    /// Whether this process should get traffic (`GET /ready`, grpc.health.v1).
    public let health: ProcessHealth
    private let coordinator: ShardCoordinator
    private let store: any ClusterStore
    private let links: NodeLinks
    private let address: String
    private let settings: ClusterSettings
    private let logger: Logger
    private let background = NIOLockedValueBox<[Task<Void, Never>]>([])
    private let subscriptions: GatePushSubscriptions?
    private let group: MultiThreadedEventLoopGroup

    /// The event loops everything in this process runs on.
    public var eventLoops: EventLoopGroup { group }

    /// A node hosting `objectTypes` (with `.embedded`, also the gate, configured by `gate`).
    public static func node(listen: GRPCServer.Configuration, advertise: String, objectTypes: [any VirtualObject.Type],
                            settings: ClusterSettings, gate: Gate.Configuration? = nil,
                            logger: Logger = Logger(label: "swiftverse")) throws -> ClusterProcess {
        let embedded: Bool
        if case .embedded = settings.coordination { embedded = true } else { embedded = false }
        guard !embedded || gate != nil else { throw ClusterConfigurationError(description: "embedded mode needs a gate configuration") }
        return try ClusterProcess(role: embedded ? .embedded : .node, listen: listen, advertise: advertise,
                                  objectTypes: objectTypes, gateConfiguration: embedded ? gate : nil,
                                  settings: settings, logger: logger)
    }

    /// A gate (etcd coordination only: an embedded gate comes with its node).
    public static func gate(listen: GRPCServer.Configuration, configuration: Gate.Configuration, settings: ClusterSettings,
                            logger: Logger = Logger(label: "swiftverse")) throws -> ClusterProcess {
        guard case .etcd = settings.coordination else {
            throw ClusterConfigurationError(description: "a standalone gate needs etcd; use a node's --embedded mode for one process")
        }
        return try ClusterProcess(role: .gate, listen: listen, advertise: configuration.advertiseAddress, objectTypes: [],
                                  gateConfiguration: configuration, settings: settings, logger: logger)
    }

    private init(role: Role, listen: GRPCServer.Configuration, advertise: String, objectTypes: [any VirtualObject.Type],
                 gateConfiguration: Gate.Configuration?, settings: ClusterSettings, logger: Logger) throws {
        self.role = role
        self.address = advertise
        self.settings = settings
        self.logger = logger
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.eventLoops ?? ProcessCPUs.available)
        self.group = group
        let view = ClusterView(shardCount: settings.shardCount)
        self.view = view
        let links = NodeLinks(tls: settings.nodeTLS, secret: settings.clusterSecret, group: group, logger: logger)
        self.links = links
        let node = role == .gate ? nil : Node(address: advertise, objectTypes: objectTypes, shardCount: settings.shardCount,
                                             eventLoops: group, store: settings.store, logger: logger)
        self.node = node
        let router = ClusterRouter(view: view, localNode: node, links: links, logger: logger)
        node?.attach(router: router)

        var gate: Gate?
        if let gateConfiguration {
            gate = Gate(configuration: gateConfiguration, router: router, logger: logger, reportGone: { clientIDs in
                await ClusterProcess.reportGone(clientIDs, view: view, localNode: node, links: links)
            }, catalog: {
                if let node { return node.catalog }
                for address in view.liveNodes.sorted() {
                    if let catalog = try? await links.link(to: address).describe() { return catalog }
                }
                return nil
            })
        }
        self.gate = gate
        // A standalone gate hears pushes from the nodes; an embedded one from its own node.
        subscriptions = role == .gate ? gate.map { GatePushSubscriptions(gate: $0, address: advertise, view: view, links: links, logger: logger) } : nil

        // One coordinator for every mode: an embedded process runs it on a store in
        // its own memory, so `make run` places shards exactly as a cluster does.
        let prefix: String
        switch settings.coordination {
        case .embedded:
            store = InMemoryClusterStore()
            prefix = "/swiftverse/"
        case .etcd(let endpoint, let etcdPrefix):
            store = EtcdClusterStore(etcd: try EtcdClient(endpoint: endpoint, tls: settings.etcdTLS, group: group, logger: logger))
            prefix = etcdPrefix
        }
        var coordination = ShardCoordinator.Settings(prefix: prefix)
        coordination.leaseTTL = settings.leaseTTL
        coordination.maxMovesInFlight = settings.maxMovesInFlight
        let kinds: [ClusterKeys.MemberKind] = switch role {
        case .node: [.node]
        case .gate: [.gate]
        case .embedded: [.node, .gate]
        }
        coordinator = ShardCoordinator(store: store, settings: coordination, kinds: kinds, address: advertise, view: view,
                                       node: node, links: links, logger: logger)

        var services: [GRPCService] = []
        if let node, role == .node {
            let nodeService = NodeService.make(node: node, logger: logger)
            if let secret = settings.clusterSecret {
                services.append(secret.guarding(nodeService))
            } else {
                services.append(nodeService)
                logger.warning("no cluster secret: any process that can reach \(advertise) may call its objects as any user (set --cluster-secret)")
            }
        }
        if let gate { services.append(gate.service()) }
        services.append(AdminService.make(role: role, address: advertise, view: view, node: node, gate: gate,
                                          coordinator: coordinator))
        let health = ProcessHealth(role: role, view: view, node: node)
        self.health = health
        services.append(HealthService.make(health: health, services: services.map(\.name)))
        services += ReflectionService.make(hosting: services.map(\.name))
        let server = GRPCServer(configuration: listen, services: services, group: group, logger: logger)
        self.server = server
        let http = gate?.configuration.http ?? settings.operatorHTTP
        if let endpoint = http?.metrics {
            let (view, node, gate, coordinator, address) = (view, node, gate, coordinator, advertise)
            endpoint.beforeRendering {
                RuntimeMetrics.mapEpoch.record(view.map.epoch)
                RuntimeMetrics.liveNodes.record(view.liveNodes.count)
                RuntimeMetrics.liveGates.record(view.liveGates.count)
                RuntimeMetrics.leader.record(coordinator.isLeader ? 1 : 0)
                RuntimeMetrics.ready.record(health.readiness == .ready ? 1 : 0)
                RuntimeMetrics.grpcConnections.record(server.connectionCount)
                let sinceChange = ContinuousClock.now - view.mapChanged
                RuntimeMetrics.secondsSinceMapChange.record(Double(sinceChange.components.seconds)
                                                           + Double(sinceChange.components.attoseconds) / 1e18)
                if let node {
                    let census = node.census()
                    for (type, count) in census.activeByType { RuntimeMetrics.activeObjects[type].record(count) }
                    RuntimeMetrics.mailboxCalls.record(census.mailboxCalls)
                    RuntimeMetrics.deepestMailbox.record(census.deepestMailbox)
                    RuntimeMetrics.shardsOwned.record(view.map.shards(servedBy: address).count)
                }
                if let counts = gate?.clientCountsByTransport {
                    RuntimeMetrics.grpcClients.record(counts.grpc)
                    RuntimeMetrics.eventStreamClients.record(counts.eventStream)
                }
            }
        }
        httpServer = try http.map {
            try HTTPGateServer(gate: gate, health: health, clusterReport: { await ClusterReport.json(view: view, links: links) },
                               configuration: $0, logger: logger)
        }
    }

    /// The port the server listens on.
    public var port: Int? { server.localPort }

    /// The port the gate serves HTTP on, if it does.
    public var httpPort: Int? { httpServer?.port }

    public func start() async throws {
        try await server.start()
        try await httpServer?.start(group: group)
        coordinator.start()
        if role == .embedded, let node, let gate {
            // Pushes go straight to this process's gate; the coordinator places every
            // shard on this node, and the process is ready once it has.
            node.pushes.attach(gate: address, sink: LocalGateSink(gate: gate))
            try await view.waitUntilReady(timeout: .seconds(30))
        }
        if let node {
            let interval = settings.idleSweepInterval
            let sweeper = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    await node.collectIdleObjects()
                }
            }
            background.withLockedValue { $0.append(sweeper) }
        }
        subscriptions?.start()
    }

    /// Runs until SIGINT/SIGTERM-driven `stop()`; convenience for executables.
    public func stop(grace: Duration = .seconds(5)) async {
        // Probes see NOT_SERVING before any GOAWAY goes out, so balancers move on first.
        health.startDraining()
        for task in background.withLockedValue({ $0 }) { task.cancel() }
        subscriptions?.stop()
        await httpServer?.stop()
        await coordinator.stop()
        await server.shutdown(grace: TimeAmount(grace))
        await links.closeAll()
        await store.close()
        if let store = settings.store, let written = node?.storeStatistics.current {
            logger.notice("object store: \(written.writes) writes carried \(written.entries) journal entries", metadata: [
                "entries-per-write": "\((written.entriesPerWrite * 100).rounded() / 100)", "failed-writes": "\(written.failedWrites)",
                "store": "\(store.description)"])
            await store.close()
        }
        // The event loops are left to end with the process: a connection attempt still
        // in flight (etcd away) must not meet a shut-down loop.
    }

    /// Activates an object wherever its shard lives (e.g. an application singleton once
    /// the cluster is ready).
    public func createObject(type: String, id: String, timeout: Duration = .seconds(10)) async throws {
        guard let router = node?.router ?? gate?.router else { return }
        try await router.create(type: type, id: id, context: .internalCall, timeout: timeout)
    }

    static func reportGone(_ clientIDs: [String], view: ClusterView, localNode: Node?, links: NodeLinks) async {
        if let localNode {
            await localNode.clientsGone(clientIDs)
            return
        }
        for address in view.liveNodes {
            try? await links.link(to: address).clientsGone(clientIDs)
        }
    }
}
