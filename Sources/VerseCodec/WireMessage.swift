/// The codec seam between the transport and a serialization library: what the gRPC
/// layer needs of a message to carry it. VerseGRPC moves bytes and knows only this;
/// VerseProtobuf's messages (protobuf-c) implement it, and another format could too.
///
/// Encoding happens in two steps so that a message is written straight into the
/// transport's buffer after its length prefix: `wireEncoding()` prepares it (its size
/// is then known), and the transport writes it where it wants.
public protocol WireMessage: Sendable {
    associatedtype Encoding: WireEncoding
    /// The message's name, for error messages (e.g. `chat.ChatMessage`).
    static var wireName: String { get }
    /// The message prepared for writing.
    func wireEncoding() -> Encoding
    /// Decodes a message; throws if `bytes` are not a valid encoding.
    init(wireBytes bytes: UnsafeRawBufferPointer) throws
}

/// A message ready to be written: its size, then its bytes.
public protocol WireEncoding {
    /// Encoded size in bytes.
    var count: Int { get }
    /// Writes the encoding into `buffer`, which holds at least `count` bytes; returns the
    /// bytes written. A caller that already asked for `count` passes it as `knownCount`.
    @discardableResult
    func write(into buffer: UnsafeMutableRawBufferPointer, knownCount: Int?) -> Int
}
