/// Placement of objects on shards (fixed by DESIGN.md; tools and tests rely on it):
/// `shard = fnv1a32(utf8(objectID)) % shardCount`, except that an id of the form
/// `shard#N/rest` is pinned to shard N.
public enum ShardID {
    public static let defaultCount = 8192

    /// FNV-1a, 32-bit, over the UTF-8 bytes.
    public static func fnv1a32(_ text: String) -> UInt32 {
        var hash: UInt32 = 0x811c_9dc5
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash
    }

    /// The shard of `objectID` among `count` shards.
    public static func of(_ objectID: String, count: Int = defaultCount) -> Int {
        if let pinned = pinnedShard(objectID), pinned < count { return pinned }
        return Int(fnv1a32(objectID) % UInt32(count))
    }

    /// N for an id `shard#N/...`, when N is a plain non-negative decimal.
    static func pinnedShard(_ objectID: String) -> Int? {
        guard objectID.hasPrefix("shard#"), let slash = objectID.firstIndex(of: "/") else { return nil }
        let digits = objectID[objectID.index(objectID.startIndex, offsetBy: 6)..<slash]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}
