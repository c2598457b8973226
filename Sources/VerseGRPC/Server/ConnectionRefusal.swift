import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A listener's limit on connections served at once (`--max-connections`,
/// `--http-max-connections`): one more gets a short refusal and is closed. Refusals are
/// counted and logged at most every ten seconds (a flood of them must not become a flood
/// of log lines).
public final class ConnectionLimit: Sendable {
    public let limit: Int
    private let flag: String
    private let counted: @Sendable () -> Void
    private let refusals = NIOLockedValueBox((count: 0, lastLogged: NIODeadline.distantPast))

    /// `flag`: the option that sets it, for the log line; `counted`: the metric.
    public init(_ limit: Int, flag: String, counted: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.flag = flag
        self.counted = counted
    }

    /// What an HTTP/1.1 connection past the limit gets: 503 with the reason.
    public static let http1Answer: [UInt8] = Array("""
        HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: \(ConnectionRefusal.reason.utf8.count + 1)\r\n\
        connection: close\r\nretry-after: 1\r\n\r\n\(ConnectionRefusal.reason)\n
        """.utf8)

    /// Whether one more connection, on top of `open`, is past the limit.
    public func isReached(open: Int) -> Bool { open >= limit }

    /// Answers `channel` with `answer` (nothing: closed at once) and counts it.
    public func refuse(_ channel: Channel, answer: [UInt8], logger: Logger) throws {
        counted()
        let now = NIODeadline.now()
        let report: Int? = refusals.withLockedValue { refusals in
            refusals.count += 1
            guard now - refusals.lastLogged >= .seconds(10) else { return nil }
            refusals.lastLogged = now
            defer { refusals.count = 0 }
            return refusals.count
        }
        if let report {
            logger.warning("refusing connections: \(limit) open (\(flag))",
                           metadata: ["refused": "\(report)", "peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")"])
        }
        if answer.isEmpty {
            channel.close(promise: nil)
        } else {
            try channel.pipeline.syncOperations.addHandler(ConnectionRefusal(answer: answer))
        }
    }
}

/// What a refused connection gets: `answer` (for gRPC, `http2Answer`; for HTTP/1.1,
/// `ConnectionLimit.http1Answer`), then the output closes. Its input is read and dropped (unread input would make
/// the kernel reset the connection, destroying the answer), for `linger` at most.
final class ConnectionRefusal: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: used on its channel's event loop only.
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let reason = "too many connections"
    static let linger = TimeAmount.seconds(2)
    private let answer: [UInt8]

    init(answer: [UInt8]) { self.answer = answer }


    /// HTTP/2 (gRPC): the server preface (an empty SETTINGS) and GOAWAY ENHANCE_YOUR_CALM
    /// naming no stream, with the reason as debug data. gRPC clients report UNAVAILABLE
    /// and back off.
    static let http2Answer: [UInt8] = {
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
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: answer))).whenComplete { _ in
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
