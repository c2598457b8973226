import NIOCore
import NIOHTTP1

/// Answers a request NIOHTTP1 cannot parse, before the connection closes: 431 for a head
/// past the parser's limit (about 80 KiB of request line and fields), 400 for anything
/// else malformed, each with a one-line reason. (NIO's own handler answers 400 with an
/// empty body for both.) Only when no response is under way: it could not be told apart.
final class HTTPRequestErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responding = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let error = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        if !responding {
            let (status, reason): (HTTPResponseStatus, String) = switch error {
            case .headerOverflow: (.requestHeaderFieldsTooLarge, "the request head is too large")
            default: (.badRequest, "malformed HTTP request (\(error))")
            }
            let body = context.channel.allocator.buffer(string: reason + "\n")
            let headers = HTTPHeaders([("Connection", "close"), ("Content-Type", "text/plain"), ("Content-Length", "\(body.readableBytes)")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        // The decoder closes the connection once this returns.
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: responding = true // not a 1xx
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
