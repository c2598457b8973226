#if DEBUG
import NIOConcurrencyHelpers

/// Debug builds count live per-call objects so tests can catch reference cycles
/// (a leaked call is a leaked stream). Release builds compile none of this.
enum LiveObjectCounter {
    static let serverStreams = NIOLockedValueBox(0)
    static let clientStreams = NIOLockedValueBox(0)
}
#endif
