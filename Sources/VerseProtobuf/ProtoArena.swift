import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// Owns the C memory of one message being encoded (the message struct, nested
/// messages, strings, arrays) and frees it all at once when the encoding is dropped.
public final class ProtoArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    public init() {}

    deinit {
        for block in blocks { free(block) }
    }

    /// Zeroed memory that lives as long as the arena.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        guard let block = calloc(1, max(size, 1)) else { fatalError("out of memory") }
        blocks.append(block)
        return block
    }

    /// A NUL-terminated copy of `string`.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let copy = allocate(utf8.count + 1)
            if let base = utf8.baseAddress { copy.copyMemory(from: base, byteCount: utf8.count) }
            return copy.assumingMemoryBound(to: CChar.self)
        }
    }

    func bytes(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let copy = allocate(bytes.count)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { copy.copyMemory(from: base, byteCount: $0.count) } }
        return ProtobufCBinaryData(len: bytes.count, data: copy.assumingMemoryBound(to: UInt8.self))
    }
}
