import VerseGRPC

/// The shared secret that admits a caller to `verse.NodeService`. Gates and nodes send
/// it as metadata on every call to a node, and a node refuses calls without it
/// (UNAUTHENTICATED): otherwise anyone who can reach a node's port could call any
/// object as any user, since the caller's identity travels in the request.
public struct ClusterSecret: Sendable {
    static let metadataKey = "x-verse-cluster-secret"

    private let value: [UInt8]
    /// What a caller attaches to each call.
    let metadata: Metadata

    public init?(_ value: String?) {
        guard let value, !value.isEmpty else { return nil }
        self.value = Array(value.utf8)
        metadata = Metadata([(Self.metadataKey, value)])
    }

    /// Compares in time independent of where the first difference is.
    func admits(_ presented: String?) -> Bool {
        guard let presented else { return false }
        let bytes = Array(presented.utf8)
        guard bytes.count == value.count else { return false }
        return zip(bytes, value).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// `service` answering only calls that carry the secret.
    func guarding(_ service: GRPCService) -> GRPCService {
        service.guarded { call in
            guard admits(call.requestMetadata[Self.metadataKey]) else {
                throw VerseError(.unauthenticated, "\(Self.metadataKey) missing or wrong: this node takes calls only from its cluster")
            }
        }
    }
}
