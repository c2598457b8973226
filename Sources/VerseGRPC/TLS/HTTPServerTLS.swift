import NIOCore

/// TLS for the gate's HTTP port on this stack's OpenSSL handler: ALPN settles on "h2"
/// when the client offers it, else "http/1.1" (a client that offers only other
/// protocols is refused with a fatal alert), and the connection is set up for that.
public struct HTTPServerTLS: Sendable {
    let context: TLSContext

    public init(_ configuration: TLSConfiguration) throws {
        context = try TLSContext(server: configuration, protocol: .h2OrHTTP11)
    }

    /// Adds TLS to a new connection; once the handshake settles the protocol, `http2`
    /// (ALPN "h2") or `http1` (anything else) adds the handlers for it.
    public func configure(_ channel: Channel, http1: @escaping @Sendable (Channel) throws -> Void,
                          http2: @escaping @Sendable (Channel) throws -> Void) throws {
        try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context, role: .server, serverName: nil))
        try channel.pipeline.syncOperations.addHandler(ProtocolSwitch(http1: http1, http2: http2))
    }
}

/// Waits for the handshake's ALPN outcome, sets up the protocol, steps aside.
private final class ProtocolSwitch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private let http1: (Channel) throws -> Void
    private let http2: (Channel) throws -> Void

    init(http1: @escaping (Channel) throws -> Void, http2: @escaping (Channel) throws -> Void) {
        self.http1 = http1
        self.http2 = http2
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let negotiated = event as? TLSApplicationProtocol else { return context.fireUserInboundEventTriggered(event) }
        do {
            try (negotiated.name == "h2" ? http2 : http1)(context.channel)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }
}
