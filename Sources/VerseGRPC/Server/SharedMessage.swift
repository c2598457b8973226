import NIOCore
import VerseCodec

/// One message for many server streams (fan-out): encoded and framed once, and
/// compressed at most once, for the streams that send compressed responses, instead of
/// once per recipient. Written with `ServerCall.writeOnEventLoop(_:limit:)`, which picks
/// the form the stream's response encoding calls for.
public struct SharedMessage: Sendable {
    let plain: ByteBuffer
    /// `plain` compressed with `encoding`, if asked for.
    let compressed: ByteBuffer?
    let encoding: GRPCCompression?

    private static let allocator = ByteBufferAllocator()

    /// `compressedWith`: also prepare the message compressed this way (pass it only
    /// when some recipient compresses its responses with it: compression costs CPU).
    public init<Message: WireMessage>(_ message: Message, compressedWith encoding: GRPCCompression? = nil) {
        let plain = MessageFramer.frame(message.wireEncoding(), allocator: Self.allocator)
        self.plain = plain
        self.encoding = encoding
        compressed = encoding.map { MessageFramer.compress(framed: plain, $0, allocator: Self.allocator) }
    }

    /// The bytes for a stream whose responses go out with `responseEncoding`.
    func framed(for responseEncoding: GRPCCompression?) -> ByteBuffer {
        if let compressed, responseEncoding == encoding { return compressed }
        return plain
    }
}
