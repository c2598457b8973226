import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP relay on loopback that a test can cut and restore: a process connected
/// through it is cut off from what is behind it (a partition), while everything else
/// still reaches both.
final class TCPRelay: Sendable {
    let port: Int
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let listener: Channel
    private let connections = NIOLockedValueBox<[Channel]>([])
    private let isOpen = NIOLockedValueBox(true)

    init(to target: Int) throws {
        let connections = self.connections, isOpen = self.isOpen
        listener = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                guard isOpen.withLockedValue({ $0 }) else { return client.close() }
                return ClientBootstrap(group: client.eventLoop).connect(host: "127.0.0.1", port: target).flatMap { upstream in
                    connections.withLockedValue { $0 += [client, upstream] }
                    return upstream.pipeline.addHandler(Forward(to: client)).flatMap {
                        client.pipeline.addHandler(Forward(to: upstream))
                    }.flatMap {
                        client.setOption(.autoRead, value: true)
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = listener.localAddress!.port!
    }

    /// Drops every relayed connection and refuses new ones.
    func cut() {
        isOpen.withLockedValue { $0 = false }
        let open = connections.withLockedValue { connections in
            defer { connections.removeAll() }
            return connections
        }
        for channel in open { channel.close(promise: nil) }
    }

    func restore() {
        isOpen.withLockedValue { $0 = true }
    }

    deinit {
        cut()
        listener.close(promise: nil)
        try? group.syncShutdownGracefully()
    }

    private final class Forward: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let peer: Channel
        init(to peer: Channel) { self.peer = peer }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }
        func channelInactive(context: ChannelHandlerContext) { peer.close(promise: nil) }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}
