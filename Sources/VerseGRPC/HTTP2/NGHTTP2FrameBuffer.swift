import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// The outbound frame buffer of one nghttp2 session, found through nghttp2's allocator
/// hooks so its pages can be given back while the connection is idle.
///
/// Every session allocates a 16 KiB buffer that it packs each outgoing frame into
/// (`aob.framebufs`, NGHTTP2_FRAMEBUF_CHUNKLEN) and keeps for its whole life. Only the
/// first page or two is written by the small frames a chat connection sends, but those
/// stay resident: 4 KiB of each idle client's 22, nghttp2 offers no option to size it,
/// and at 100,000 connected clients that is 400 MB. The buffer holds nothing between
/// frames: nghttp2 packs a frame into it, `nghttp2_session_mem_send` returns the bytes,
/// we copy them out, and the next frame is packed from the start again. So while the
/// session has nothing to write its contents are dead, and `madvise(MADV_DONTNEED)`
/// returns its whole pages to the system; the next frame faults a zeroed page back in.
///
/// How the buffer is recognised: it is the one allocation of at least 16 KiB that a
/// session makes while it is being constructed (nghttp2 1.x: `nghttp2_bufs_init3` in
/// `session_new`). That allocation is made page-aligned, so all of its pages can go.
/// The record lives as long as the session: nghttp2 keeps the allocator's user data
/// for its later allocations and for the final free.
struct NGHTTP2FrameBuffer {
    /// Smallest allocation taken for the frame buffer: a frame's payload limit (16,384;
    /// the buffer is that plus a frame header and padding).
    static let minimumSize = 16 << 10
    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Set only while the session is constructed: later large allocations (a big
    /// inbound frame's payload) are not the frame buffer.
    var capturing = true
    var base: UnsafeMutableRawPointer?
    var size = 0

    /// The allocator for `nghttp2_session_*_new3`: plain malloc, except for the frame buffer.
    static func allocator(for record: UnsafeMutablePointer<NGHTTP2FrameBuffer>) -> nghttp2_mem {
        nghttp2_mem(mem_user_data: UnsafeMutableRawPointer(record), malloc: allocate, free: release,
                    calloc: allocateZeroed, realloc: reallocate)
    }

    /// The whole pages of the buffer, or nil if none was recognised.
    var pages: UnsafeMutableRawBufferPointer? {
        guard let base else { return nil }
        let start = (Int(bitPattern: base) + Self.pageSize - 1) & ~(Self.pageSize - 1)
        let end = (Int(bitPattern: base) + size) & ~(Self.pageSize - 1)
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return nil }
        return UnsafeMutableRawBufferPointer(start: pointer, count: end - start)
    }

    /// Gives the buffer's pages back to the system. Only call while the session has
    /// nothing to write (`nghttp2_session_want_write` is 0): then no frame is packed in it.
    func releasePages() -> Bool {
        guard let pages else { return false }
        return madvise(pages.baseAddress, pages.count, MADV_DONTNEED) == 0
    }

    private static func record(_ userData: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<NGHTTP2FrameBuffer> {
        userData!.assumingMemoryBound(to: NGHTTP2FrameBuffer.self)
    }

    /// Takes the allocation as the frame buffer if it is the one: page-aligned memory
    /// from posix_memalign, which free and realloc accept like any other.
    private static func captured(_ size: Int, _ userData: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
        let record = record(userData)
        guard record.pointee.capturing, record.pointee.base == nil, size >= minimumSize else { return nil }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, pageSize, size) == 0, let memory else { return nil }
        record.pointee.base = memory
        record.pointee.size = size
        return memory
    }

    private static let allocate: nghttp2_malloc = { size, userData in
        captured(size, userData) ?? malloc(size)
    }

    private static let allocateZeroed: nghttp2_calloc = { count, size, userData in
        let (total, overflow) = count.multipliedReportingOverflow(by: size)
        if !overflow, let memory = captured(total, userData) {
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: total)
            return memory
        }
        return calloc(count, size)
    }

    private static let reallocate: nghttp2_realloc = { pointer, size, userData in
        guard let pointer else { return captured(size, userData) ?? malloc(size) }
        let record = record(userData)
        let moved = realloc(pointer, size)
        if pointer == record.pointee.base, let moved { // not done by nghttp2 1.x, kept right regardless
            record.pointee.base = moved
            record.pointee.size = size
        }
        return moved
    }

    private static let release: nghttp2_free = { pointer, userData in
        guard let pointer else { return }
        let record = record(userData)
        if pointer == record.pointee.base { record.pointee.base = nil }
        free(pointer)
    }
}
