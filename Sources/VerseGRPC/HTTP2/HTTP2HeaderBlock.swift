import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// A received header block as nghttp2 decoded it. Readers look at fields as bytes and
/// make Strings only for what they keep: a gRPC request head is mostly fields the
/// server checks and drops (`:method`, `:scheme`, `te`, `content-type`).
///
/// Fields are nghttp2's own reference-counted buffers (rcbufs), held until the block is
/// read: no copy of any name or value. Names from HPACK's static table are static
/// rcbufs, for which the reference counting does nothing. This runs for every header
/// of every call.
final class HTTP2HeaderBlock {
    /// A name or value as nghttp2 decoded it: its reference-counted buffer and the bytes
    /// in it, read once (the bytes stay valid while the buffer is held).
    struct Received {
        let rcbuf: OpaquePointer
        let bytes: UnsafeRawBufferPointer

        init(_ rcbuf: OpaquePointer) {
            self.rcbuf = rcbuf
            let vector = nghttp2_rcbuf_get_buf(rcbuf)
            bytes = UnsafeRawBufferPointer(start: vector.base, count: vector.len)
        }
    }

    /// Only the buffers (16 bytes a field): the block's storage stays with its connection
    /// for the connection's life, so it is kept small; the bytes are looked up when read.
    private struct Field {
        var name: OpaquePointer
        var value: OpaquePointer
    }

    private var fields: UnsafeMutablePointer<Field>?
    private(set) var count = 0
    private var capacity = 0

    deinit {
        removeAll()
        free(fields)
    }

    /// Releases the fields. An rcbuf carries its own allocator, so this is safe after
    /// the session that made it is gone.
    func removeAll() {
        for index in 0..<count {
            nghttp2_rcbuf_decref(fields![index].name)
            nghttp2_rcbuf_decref(fields![index].value)
        }
        count = 0
    }

    /// Gives the storage back while no block is in progress (an idle connection; the
    /// next block allocates it again).
    func releaseStorage() {
        guard count == 0 else { return }
        free(fields)
        fields = nil
        capacity = 0
    }

    /// Keeps `name` and `value` until `removeAll`.
    func append(name: Received, value: Received) {
        if count == capacity {
            capacity = max(capacity * 2, 16)
            fields = realloc(fields, capacity * MemoryLayout<Field>.stride)?.assumingMemoryBound(to: Field.self)
            precondition(fields != nil, "out of memory for a header block")
        }
        nghttp2_rcbuf_incref(name.rcbuf)
        nghttp2_rcbuf_incref(value.rcbuf)
        fields![count] = Field(name: name.rcbuf, value: value.rcbuf)
        count += 1
    }

    /// Calls `body` with each field's name and value, in order. The buffers are only
    /// valid during the call.
    func forEach(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) rethrows {
        for index in 0..<count {
            let field = fields![index]
            try body(Received(field.name).bytes, Received(field.value).bytes)
        }
    }

    /// The block as Strings, made through `strings` (recurring names and values are
    /// not rebuilt).
    func headers(_ strings: HeaderStringCache) -> [HTTP2Header] {
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
