#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// On a listening channel: when accepting fails for want of resources (no file
/// descriptors left in the process or the system, no buffers), stop reading the
/// listening socket for `pause`, then try again. SwiftNIO's AcceptBackoffHandler cannot
/// do this on its own: the failed accept leaves a read pending, so the socket stays
/// registered and every wakeup fails again (a core at 100% with no traffic); turning
/// auto-read off unregisters it.
public final class AcceptPause: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on the listening channel's event loop only.
    public typealias InboundIn = Channel

    private let pause: TimeAmount
    private let logger: Logger
    private var resuming: Scheduled<Void>?

    public init(pause: TimeAmount = .seconds(1), logger: Logger) {
        self.pause = pause
        self.logger = logger
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        guard resuming == nil else { return }
        logger.warning("cannot accept connections: \(String(cString: strerror(error.errnoCode))); pausing accept for \(pause.nanoseconds / 1_000_000) ms")
        let channel = context.channel
        channel.setOption(.autoRead, value: false).whenComplete { _ in }
        resuming = context.eventLoop.scheduleTask(in: pause) { [self] in
            resuming = nil
            channel.setOption(.autoRead, value: true).whenComplete { _ in }
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        resuming?.cancel()
        resuming = nil
        context.fireChannelInactive()
    }
}
