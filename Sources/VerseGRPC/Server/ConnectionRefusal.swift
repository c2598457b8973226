import NIOCore

/// What a connection past the server's `maxConnections` gets: the server preface
/// (an empty SETTINGS) and GOAWAY ENHANCE_YOUR_CALM naming no stream, with the reason as
/// debug data; then the output closes. gRPC clients report UNAVAILABLE and back off.
/// Its input is read and dropped (unread input would make the kernel reset the
/// connection, destroying the GOAWAY), for `linger` at most.
final class ConnectionRefusal: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on its channel's event loop only.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let reason = "too many connections"
    static let linger = TimeAmount.seconds(2)

    /// The bytes it sends: SETTINGS, then GOAWAY(last stream 0, ENHANCE_YOUR_CALM, reason).
    static let frames: [UInt8] = {
        let debug = Array(reason.utf8)
        let length = 8 + debug.count
        let settings: [UInt8] = [0, 0, 0, 0x4, 0, 0, 0, 0, 0]
        let goAwayHead: [UInt8] = [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), 0x7, 0, 0, 0, 0, 0]
        let code = HTTP2ErrorCode.enhanceYourCalm.rawValue
        let payload: [UInt8] = [0, 0, 0, 0, UInt8(code >> 24 & 0xff), UInt8(code >> 16 & 0xff), UInt8(code >> 8 & 0xff), UInt8(code & 0xff)]
        return settings + goAwayHead + payload + debug
    }()

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: Self.frames))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        let linger = context.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in linger.cancel() }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {} // dropped

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
