import NIOCore

/// The connections of one event loop whose nghttp2 frame buffer is resident, until
/// each has written nothing for its `idleFrameBufferRelease` and gives the pages back
/// (see NGHTTP2FrameBuffer).
///
/// One timer per loop, running only while it holds connections, instead of one per
/// connection: a connection joins on its first write after a release (an array append),
/// stays while it keeps writing (one check per tick), and leaves when released or closed.
/// A busy chat client is never released; an idle one is, within a tick of its limit.
final class FrameBufferReclaimer {
    /// How often the loop looks: idle limits count in these.
    static let tick = TimeAmount.seconds(1)

    private let loop: EventLoop
    private var resident: [HTTP2Connection] = []
    private(set) var currentTick: UInt64 = 1
    private var sweepScheduled = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// `connection` wrote output now (called on the loop, after every write).
    func wrote(_ connection: HTTP2Connection) {
        connection.lastOutputTick = currentTick
        guard !connection.frameBufferListed else { return }
        connection.frameBufferListed = true
        resident.append(connection)
        scheduleSweep()
    }

    private func scheduleSweep() {
        guard !sweepScheduled else { return }
        sweepScheduled = true
        // The scheduled task holds the reclaimer (and its connections) until it runs.
        loop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: Self.tick) { self.sweep() }
    }

    private func sweep() {
        sweepScheduled = false
        currentTick += 1
        var kept = 0
        var index = 0 // indexed: for-in allocates per element in the debug build
        while index < resident.count {
            let connection = resident[index]
            if connection.keepsFrameBuffer(atTick: currentTick) {
                resident[kept] = connection
                kept += 1
            } else {
                connection.frameBufferListed = false
            }
            index += 1
        }
        resident.removeLast(resident.count - kept)
        if !resident.isEmpty { scheduleSweep() }
    }
}
