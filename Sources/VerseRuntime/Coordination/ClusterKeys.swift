/// Where coordination keeps its records in the store, under one prefix:
/// - `members/<kind>/<address>`: a `verse.MemberRecord` on the member's lease;
/// - `leader`: the leader node's address, on its lease (created only if absent);
/// - `shardmap`: a `verse.ShardMapRecord`, written only with compare-and-swap.
struct ClusterKeys: Sendable {
    enum MemberKind: String, Sendable { case node, gate }

    /// Ends in "/".
    let prefix: String

    init(prefix: String) {
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    var leader: String { "\(prefix)leader" }
    var shardMap: String { "\(prefix)shardmap" }
    private var members: String { "\(prefix)members/" }

    func member(_ kind: MemberKind, _ address: String) -> String { "\(members)\(kind.rawValue)/\(address)" }

    /// The member a key names, if it is a member key.
    func member(from key: String) -> (kind: MemberKind, address: String)? {
        guard key.hasPrefix(members) else { return nil }
        let rest = key.dropFirst(members.count)
        guard let slash = rest.firstIndex(of: "/"), let kind = MemberKind(rawValue: String(rest[..<slash])) else { return nil }
        return (kind, String(rest[rest.index(after: slash)...]))
    }
}
