import CNghttp2
#if canImport(Glibc)
import Glibc
#endif

/// A header list encoded once, for fields every call sends unchanged (the response
/// head `:status: 200` + `content-type: application/grpc`, the trailer `grpc-status: 0`).
///
/// The bytes live as long as the process, so nghttp2 takes them with its NO_COPY flags:
/// per call this skips marshalling the list and nghttp2's copy of every name and value.
/// Only for `static let`s: the memory is never freed.
final class PreparedHeaders: Sendable {
    /// Immutable after init and never freed: safe to share between event loops.
    nonisolated(unsafe) private let fields: UnsafeMutablePointer<nghttp2_nv>
    let count: Int
    let headers: [HTTP2Header]

    init(_ headers: [HTTP2Header]) {
        self.headers = headers
        count = headers.count
        fields = .allocate(capacity: max(headers.count, 1))
        let noCopy = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)
        for (index, header) in headers.enumerated() {
            let name = strdup(header.name)!, value = strdup(header.value)!
            (fields + index).initialize(to: nghttp2_nv(
                name: UnsafeMutableRawPointer(name).assumingMemoryBound(to: UInt8.self),
                value: UnsafeMutableRawPointer(value).assumingMemoryBound(to: UInt8.self),
                namelen: header.name.utf8.count, valuelen: header.value.utf8.count, flags: noCopy))
        }
    }

    /// nghttp2 only reads the array during the submit call and keeps the (immortal)
    /// bytes it points to.
    func withNameValues<R>(_ body: (UnsafeMutablePointer<nghttp2_nv>, Int) -> R) -> R {
        body(fields, count)
    }
}
