import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// Owns the C memory of one message being encoded (the message struct, nested
/// messages, strings, arrays) and frees it all at once when the encoding is dropped.
///
/// A bump allocator over slabs that zeroes what it hands out: encoding a typical
/// message costs one slab allocation instead of one per struct and string.
public final class ProtoArena {
    private static let slabSize = 1024
    /// Larger requests get a block of their own instead of wasting a slab.
    private static let largeRequest = 256

    private var slab: UnsafeMutableRawPointer?
    private var used = 0
    private var capacity = 0
    /// Every block to free. Most arenas need one slab: it is kept apart, so they never
    /// allocate the array.
    private var firstBlock: UnsafeMutableRawPointer?
    private var moreBlocks: [UnsafeMutableRawPointer] = []

    public init() {}

    deinit {
        free(firstBlock)
        for block in moreBlocks { free(block) }
    }

    /// Zeroed, 16-byte aligned memory that lives as long as the arena. Slabs come from
    /// malloc and only the bytes handed out are zeroed (an encode uses a few hundred of
    /// a slab's 1 KiB).
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let size = max(size, 1)
        if size > Self.largeRequest {
            guard let block = calloc(1, size) else { fatalError("out of memory") }
            keep(block)
            return block
        }
        let start = (used + 15) & ~15
        let memory: UnsafeMutableRawPointer
        if let slab, start + size <= capacity {
            used = start + size
            memory = slab + start
        } else {
            guard let fresh = malloc(Self.slabSize) else { fatalError("out of memory") }
            keep(fresh)
            slab = fresh
            capacity = Self.slabSize
            used = size
            memory = fresh
        }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return memory
    }

    private func keep(_ block: UnsafeMutableRawPointer) {
        if firstBlock == nil { firstBlock = block } else { moreBlocks.append(block) }
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
