/// Custom call metadata (request headers, response headers, trailers).
///
/// Keys are lowercase ASCII. Keys ending in `-bin` carry binary values, base64 on the
/// wire: sent unpadded, accepted padded or unpadded (gRPC spec).
public struct Metadata: Sendable, Equatable, Sequence {
    public enum Value: Sendable, Equatable {
        case text(String)
        case binary([UInt8])
    }

    public private(set) var entries: [(key: String, value: Value)] = []

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (key, value) in pairs { add(key, value) }
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> {
        entries.makeIterator()
    }

    public var isEmpty: Bool { entries.isEmpty }

    public mutating func add(_ key: String, _ value: String) {
        entries.append((key.lowercased(), .text(value)))
    }

    public mutating func add(_ key: String, binary: [UInt8]) {
        precondition(key.hasSuffix("-bin"), "binary metadata keys end in -bin")
        entries.append((key.lowercased(), .binary(binary)))
    }

    public mutating func append(contentsOf other: Metadata) {
        entries.append(contentsOf: other.entries)
    }

    /// The first text value for `key`.
    public subscript(_ key: String) -> String? {
        for entry in entries where Self.same(entry.key, key) {
            if case .text(let value) = entry.value { return value }
        }
        return nil
    }

    /// The first binary value for `key` (a `-bin` key).
    public func binary(_ key: String) -> [UInt8]? {
        for entry in entries where Self.same(entry.key, key) {
            if case .binary(let value) = entry.value { return value }
        }
        return nil
    }

    /// Key equality with the length compared first: lookups run per call, and most keys
    /// they pass differ in length (String's == would compare them in full).
    private static func same(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a == b
    }

    /// Headers that belong to the protocol, never to the application. Runs for every
    /// header of every call: dispatch on the first byte and the length before comparing.
    static func isReserved(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isReserved(UnsafeRawBufferPointer($0)) }
    }

    static func isReserved(_ name: UnsafeRawBufferPointer) -> Bool {
        guard let first = name.first else { return false }
        if first == UInt8(ascii: ":") { return true }
        switch (first, name.count) {
        case (UInt8(ascii: "t"), 2): return name.equals("te")
        case (UInt8(ascii: "c"), 10): return name.equals("connection")
        case (UInt8(ascii: "c"), 12): return name.equals("content-type")
        case (UInt8(ascii: "g"), 11): return name.equals("grpc-status")
        case (UInt8(ascii: "g"), 12): return name.equals("grpc-timeout") || name.equals("grpc-message")
        case (UInt8(ascii: "g"), 13): return name.equals("grpc-encoding")
        case (UInt8(ascii: "g"), 20): return name.equals("grpc-accept-encoding")
        default: return false
        }
    }

    /// Adds a received field that is not reserved (the caller checked). A `-bin` value
    /// that is not valid base64 is dropped rather than handed to the application as garbage.
    /// `isBinary`: the key ends in `-bin` (callers holding the key's bytes check it there).
    /// `expectedCount` sizes the storage on the first entry: one allocation, not a growth
    /// series. Pass the fields not yet looked at, this one included: HTTP/2 puts pseudo-
    /// headers first and clients put gRPC's reserved ones early, so that is close to the
    /// metadata's real size, which a long-lived call (a push stream) holds for its life.
    mutating func addReceived(name: String, value: String, isBinary: Bool, expectedCount: Int) {
        if entries.isEmpty { entries.reserveCapacity(expectedCount) }
        if isBinary {
            if let bytes = Base64.decode(value) { entries.append((name, .binary(bytes))) }
        } else {
            entries.append((name, .text(value)))
        }
    }

    static func isBinaryKey(_ name: UnsafeRawBufferPointer) -> Bool {
        name.count > 4 && UnsafeRawBufferPointer(rebasing: name[(name.count - 4)...]).equals("-bin")
    }

    /// The custom metadata among received headers.
    init(headers: [HTTP2Header]) {
        for (index, header) in headers.enumerated() where !Metadata.isReserved(header.name) {
            let isBinary = header.name.utf8.count > 4 && header.name.hasSuffix("-bin")
            addReceived(name: header.name, value: header.value, isBinary: isBinary, expectedCount: headers.count - index)
        }
    }

    var headers: [HTTP2Header] {
        entries.compactMap { entry in
            guard !Metadata.isReserved(entry.key) else { return nil }
            switch entry.value {
            case .text(let value): return HTTP2Header(entry.key, value)
            case .binary(let bytes): return HTTP2Header(entry.key, Base64.encode(bytes))
            }
        }
    }
}

/// Standard base64 (RFC 4648 section 4) as gRPC uses it for `-bin` metadata.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Unpadded encoding, as gRPC recommends emitting.
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(chunk >> UInt32(shift) & 0x3f)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            var chunk = UInt32(bytes[index]) << 16
            if rest == 2 { chunk |= UInt32(bytes[index + 1]) << 8 }
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            if rest == 2 { out.append(alphabet[Int(chunk >> 6 & 0x3f)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Accepts padded and unpadded input; nil for anything else.
    static func decode(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        while symbols.last == UInt8(ascii: "=") { symbols.removeLast() }
        guard symbols.count % 4 != 1, text.utf8.count - symbols.count <= 2 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(symbols.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            guard let value = value(of: symbol) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }

    private static func value(of symbol: UInt8) -> UInt8? {
        switch symbol {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): symbol - 65
        case UInt8(ascii: "a")...UInt8(ascii: "z"): symbol - 71
        case UInt8(ascii: "0")...UInt8(ascii: "9"): symbol + 4
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
