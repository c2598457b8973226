#if canImport(Glibc)
import Glibc
#endif

/// A received header block as nghttp2 decoded it: every field's bytes in one buffer
/// that the connection reuses for the next block. Readers look at fields as bytes and
/// make Strings only for what they keep: a gRPC request head is mostly fields the
/// server checks and drops (`:method`, `:scheme`, `te`, `content-type`).
///
/// A class with its own C storage for bytes and field offsets: appending to Arrays
/// costs several times a memcpy, and this runs for every header of every call.
final class HTTP2HeaderBlock {
    private struct Field {
        var nameStart: Int32
        var nameCount: Int32
        var valueStart: Int32
        var valueCount: Int32
    }

    private var storage: UnsafeMutableRawPointer?
    private var used = 0
    private var capacity = 0
    private var fields: UnsafeMutablePointer<Field>?
    private(set) var count = 0
    private var fieldCapacity = 0

    deinit {
        free(storage)
        free(fields)
    }

    func removeAll() {
        used = 0
        count = 0
    }

    func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let needed = used + name.count + value.count
        if needed > capacity {
            capacity = max(needed, capacity * 2, 256)
            storage = realloc(storage, capacity)
            precondition(storage != nil, "out of memory for a header block")
        }
        if count == fieldCapacity {
            fieldCapacity = max(fieldCapacity * 2, 16)
            fields = realloc(fields, fieldCapacity * MemoryLayout<Field>.stride)?.assumingMemoryBound(to: Field.self)
            precondition(fields != nil, "out of memory for a header block")
        }
        let nameStart = used
        copy(name)
        let valueStart = used
        copy(value)
        fields![count] = Field(nameStart: Int32(nameStart), nameCount: Int32(name.count),
                               valueStart: Int32(valueStart), valueCount: Int32(value.count))
        count += 1
    }

    private func copy(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, bytes.count > 0 {
            (storage! + used).copyMemory(from: base, byteCount: bytes.count)
        }
        used += bytes.count
    }

    /// Calls `body` with each field's name and value, in order. The buffers are only
    /// valid during the call.
    func forEach(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let storage, let fields else { return }
        for index in 0..<count {
            let field = fields[index]
            try body(UnsafeRawBufferPointer(start: storage + Int(field.nameStart), count: Int(field.nameCount)),
                     UnsafeRawBufferPointer(start: storage + Int(field.valueStart), count: Int(field.valueCount)))
        }
    }

    /// The block as Strings, made through `strings` (recurring names and values are
    /// not rebuilt).
    func headers(_ strings: inout HeaderStringCache) -> [HTTP2Header] {
        var headers: [HTTP2Header] = []
        headers.reserveCapacity(count)
        forEach { name, value in headers.append(HTTP2Header(strings.string(name), strings.string(value))) }
        return headers
    }
}

extension UnsafeRawBufferPointer {
    /// Byte equality with an ASCII literal, for matching header names and values
    /// without making Strings.
    func equals(_ literal: StaticString) -> Bool {
        sameBytes(as: UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    func sameBytes(as other: UnsafeRawBufferPointer) -> Bool {
        count == other.count && (count == 0 || memcmp(baseAddress!, other.baseAddress!, count) == 0)
    }

    func hasPrefix(_ literal: StaticString) -> Bool {
        count >= literal.utf8CodeUnitCount
            && UnsafeRawBufferPointer(rebasing: self[0..<literal.utf8CodeUnitCount]).equals(literal)
    }
}
