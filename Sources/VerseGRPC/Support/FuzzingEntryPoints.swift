import NIOCore

/// Entry points for the fuzz targets (`Sources/VerseFuzzTargets`) and the tests that
/// replay their findings: each takes arbitrary bytes and must return normally, whatever
/// they are. SPI, so the transport's internals stay internal to everyone else (the
/// HTTP/2 connection is reached through `GRPCServer.configure`, SPI too).
@_spi(Fuzzing)
public enum TransportFuzzing {
    /// The gRPC deframer over `input`, with and without gzip negotiated, and a small
    /// message limit so that the size checks are reached. Checks what it must promise:
    /// no message larger than the limit, no more bytes consumed than given.
    public static func deframe(_ input: UnsafeRawBufferPointer) {
        for encoding in [nil, GRPCCompression.gzip, .deflate] {
            var deframer = MessageDeframer(maxMessageSize: 64 << 10, encoding: encoding)
            // Two appends, split where the first byte says: messages span reads.
            let split = input.isEmpty ? 0 : min(input.count, Int(input[0]))
            deframer.append(UnsafeRawBufferPointer(rebasing: input[..<split]))
            var consumed = 0
            func drain() -> Bool {
                do {
                    while let message = try deframer.next() {
                        precondition(message.bytes.readableBytes <= 64 << 10, "a message over the limit came out")
                        consumed += message.wireSize
                    }
                    return true
                } catch {
                    _ = MessageDeframer.status(for: error) // every failure has a status
                    return false
                }
            }
            guard drain() else { continue }
            deframer.append(UnsafeRawBufferPointer(rebasing: input[split...]))
            guard drain() else { continue }
            precondition(consumed + deframer.pendingBytes == input.count, "bytes lost or invented by the deframer")
        }
    }
}
