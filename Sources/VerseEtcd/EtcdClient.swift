import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

public typealias EtcdKeyValue = Mvccpb_KeyValue
public typealias EtcdEvent = Mvccpb_Event

/// An etcd v3 client on SwiftVerse's own gRPC stack: the KV, Lease and Watch calls
/// the runtime needs. Keys are UTF-8 strings; values are bytes.
public final class EtcdClient: Sendable {
    public let endpoint: String
    private let grpc: GRPCClient
    private let logger: Logger
    /// Deadline for single requests (not for watch or keepalive streams).
    public let requestTimeout: Duration

    /// `endpoint` is `host:port`, e.g. `127.0.0.1:2379`; `tls` for an etcd that serves
    /// TLS (its certificate verified against the configuration's trust roots).
    public init(endpoint: String, tls: TLSConfiguration? = nil, requestTimeout: Duration = .seconds(5),
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "swiftverse.etcd")) throws {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else {
            throw EtcdError.badEndpoint(endpoint)
        }
        self.endpoint = endpoint
        self.requestTimeout = requestTimeout
        self.logger = logger
        self.grpc = try GRPCClient(configuration: GRPCClient.Configuration(host: String(endpoint[..<colon]), port: port, tls: tls),
                                   group: group)
    }

    public func close() async {
        await grpc.close()
    }

    // MARK: KV

    /// The value at `key`, with its revisions, or nil.
    public func get(_ key: String) async throws -> EtcdKeyValue? {
        var request = Etcdserverpb_RangeRequest()
        request.key = Array(key.utf8)
        let response: Etcdserverpb_RangeResponse = try await unary("/etcdserverpb.KV/Range", request)
        return response.kvs.first
    }

    /// Every key under `prefix`, and the store revision the listing reflects (watch
    /// from `revision + 1` to see every later change).
    public func list(prefix: String) async throws -> (kvs: [EtcdKeyValue], revision: Int64) {
        var request = Etcdserverpb_RangeRequest()
        request.key = Array(prefix.utf8)
        request.rangeEnd = Self.prefixEnd(prefix)
        let response: Etcdserverpb_RangeResponse = try await unary("/etcdserverpb.KV/Range", request)
        return (response.kvs, response.header?.revision ?? 0)
    }

    /// Stores `value` at `key` (attached to `lease` when non-zero); returns the revision.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) async throws -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = Array(key.utf8)
        request.value = value
        request.lease = lease
        let response: Etcdserverpb_PutResponse = try await unary("/etcdserverpb.KV/Put", request)
        return response.header?.revision ?? 0
    }

    /// Deletes `key`, or every key under it with `prefix: true`; returns how many.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws -> Int64 {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Array(key.utf8)
        if prefix { request.rangeEnd = Self.prefixEnd(key) }
        let response: Etcdserverpb_DeleteRangeResponse = try await unary("/etcdserverpb.KV/DeleteRange", request)
        return response.deleted
    }

    public func txn(_ request: Etcdserverpb_TxnRequest) async throws -> Etcdserverpb_TxnResponse {
        try await unary("/etcdserverpb.KV/Txn", request)
    }

    /// Compare-and-swap: stores `value` only if `key`'s mod revision is still
    /// `expectedRevision` (0: only if the key does not exist). Returns whether it did.
    public func put(_ key: String, _ value: [UInt8], ifModRevision expectedRevision: Int64, lease: Int64 = 0) async throws -> Bool {
        try await put(key, value, ifModRevisions: [key: expectedRevision], lease: lease)
    }

    /// Stores `value` at `key` only if every key in `conditions` still has the mod
    /// revision given for it (0: the key does not exist), in one transaction.
    public func put(_ key: String, _ value: [UInt8], ifModRevisions conditions: [String: Int64], lease: Int64 = 0) async throws -> Bool {
        var put = Etcdserverpb_PutRequest()
        put.key = Array(key.utf8)
        put.value = value
        put.lease = lease
        var operation = Etcdserverpb_RequestOp()
        operation.requestPut = put
        var request = Etcdserverpb_TxnRequest()
        request.compare = conditions.sorted { $0.key < $1.key }.map { key, revision in
            var compare = Etcdserverpb_Compare()
            compare.key = Array(key.utf8)
            compare.result = .equal
            compare.target = .mod
            compare.modRevision = revision
            return compare
        }
        request.success = [operation]
        return try await txn(request).succeeded
    }

    // MARK: leases

    /// A new lease of `ttl` seconds (etcd may raise it to its minimum).
    public func grantLease(ttl: Int64) async throws -> (id: Int64, ttl: Int64) {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = ttl
        let response: Etcdserverpb_LeaseGrantResponse = try await unary("/etcdserverpb.Lease/LeaseGrant", request)
        guard response.error.isEmpty, response.id != 0 else { throw EtcdError.leaseGrantFailed(response.error) }
        return (response.id, response.ttl)
    }

    public func revokeLease(_ id: Int64) async throws {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = id
        let _: Etcdserverpb_LeaseRevokeResponse = try await unary("/etcdserverpb.Lease/LeaseRevoke", request)
    }

    /// Keeps `lease` alive: refreshes it every `interval` until the task is cancelled.
    /// Returns normally when etcd says the lease is gone (expired or revoked); throws
    /// when etcd cannot be reached, so the caller can decide to retry or re-register.
    /// `renewed` hears of each refresh etcd confirmed: when its request was sent and the
    /// TTL etcd gave (the lease lasts at least until then plus the TTL).
    public func keepAlive(lease: Int64, every interval: Duration,
                          renewed: @Sendable (_ sent: ContinuousClock.Instant, _ ttl: Int64) -> Void = { _, _ in }) async throws {
        let call: StreamingCall<Etcdserverpb_LeaseKeepAliveRequest, Etcdserverpb_LeaseKeepAliveResponse> =
            try await grpc.streaming("/etcdserverpb.Lease/LeaseKeepAlive")
        defer { call.cancel() }
        var responses = call.responses.makeAsyncIterator()
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = lease
        while true {
            let sent = ContinuousClock.now
            try await call.send(request)
            guard let response = try await responses.next() else {
                throw EtcdError.streamEnded("lease keepalive")
            }
            if response.ttl <= 0 { return } // the lease no longer exists
            renewed(sent, response.ttl)
            try await Task.sleep(for: interval)
        }
    }

    // MARK: watch

    /// Changes to keys under `prefix` from `revision` on, one batch per etcd response.
    /// The sequence throws when the stream breaks (etcd gone, or the revision was
    /// compacted); callers re-list and watch again.
    public func watch(prefix: String, fromRevision revision: Int64) -> AsyncThrowingStream<[EtcdEvent], Error> {
        let grpc = self.grpc
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let call: StreamingCall<Etcdserverpb_WatchRequest, Etcdserverpb_WatchResponse> =
                        try await grpc.streaming("/etcdserverpb.Watch/Watch")
                    var create = Etcdserverpb_WatchCreateRequest()
                    create.key = Array(prefix.utf8)
                    create.rangeEnd = Self.prefixEnd(prefix)
                    create.startRevision = revision
                    var request = Etcdserverpb_WatchRequest()
                    request.createRequest = create
                    try await call.send(request)
                    for try await response in call.responses {
                        if response.canceled {
                            throw EtcdError.watchCanceled(response.cancelReason.isEmpty
                                ? "compacted at revision \(response.compactRevision)" : response.cancelReason)
                        }
                        if !response.events.isEmpty { continuation.yield(response.events) }
                    }
                    throw EtcdError.streamEnded("watch")
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: helpers

    private func unary<Request: ProtoMessage, Response: ProtoMessage>(_ path: String, _ request: Request) async throws -> Response {
        do {
            return try await grpc.unary(path, request: request, timeout: requestTimeout)
        } catch let status as GRPCStatus {
            throw EtcdError.rpc(path, status)
        }
    }

    /// The range end that selects every key starting with `prefix`.
    public static func prefixEnd(_ prefix: String) -> [UInt8] {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return [0] // every key
    }
}

public enum EtcdError: Error, CustomStringConvertible {
    case badEndpoint(String)
    case rpc(String, GRPCStatus)
    case leaseGrantFailed(String)
    case watchCanceled(String)
    case streamEnded(String)

    public var description: String {
        switch self {
        case .badEndpoint(let endpoint): "etcd endpoint \"\(endpoint)\" is not host:port"
        case .rpc(let path, let status): "etcd \(path) failed: \(status)"
        case .leaseGrantFailed(let reason): "etcd refused a lease: \(reason)"
        case .watchCanceled(let reason): "etcd cancelled the watch: \(reason)"
        case .streamEnded(let what): "etcd ended the \(what) stream"
        }
    }
}
