import COpenSSL
import Logging
import NIOCore

/// TLS on OpenSSL memory BIOs: ciphertext from the socket goes into one BIO, OpenSSL
/// turns it into plaintext for the handlers above; plaintext written from above comes
/// out of the other BIO as ciphertext for the socket. OpenSSL never touches the socket.
final class TLSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Role { case server, client }

    private let tls: TLSContext
    private let role: Role
    private let serverName: String?
    private var ssl: OpaquePointer?
    private var readBIO: OpaquePointer?
    private var writeBIO: OpaquePointer?
    private var handshakeDone = false
    private var failed = false
    /// Plaintext written before the handshake finished (the HTTP/2 preface).
    private var pendingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var scratch = [UInt8](repeating: 0, count: 16 << 10)

    /// `serverName`: client only, the name for SNI and certificate verification.
    init(context: TLSContext, role: Role, serverName: String?) throws {
        self.tls = context
        self.role = role
        self.serverName = serverName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let ssl = SSL_new(tls.context), let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            fail(context, TLSError("cannot create a TLS session"))
            return
        }
        SSL_set_bio(ssl, readBIO, writeBIO) // the SSL now owns both BIOs
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        switch role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            _ = COpenSSL_offerH2(ssl)
            if let name = serverName {
                if isIPAddress(name) {
                    _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                } else {
                    _ = COpenSSL_setServerName(ssl, name)
                    _ = SSL_set1_host(ssl, name)
                }
            }
            if context.channel.isActive { advanceHandshake(context) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let ssl { SSL_free(ssl) }
        ssl = nil
        for (_, promise) in pendingWrites { promise?.fail(ChannelError.ioOnClosedChannel) }
        pendingWrites.removeAll()
    }

    func channelActive(context: ChannelHandlerContext) {
        if role == .client { advanceHandshake(context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let ssl, let readBIO, !failed else { return }
        let buffer = unwrapInboundIn(data)
        _ = buffer.withUnsafeReadableBytes { BIO_write(readBIO, $0.baseAddress, Int32($0.count)) }
        if !handshakeDone {
            advanceHandshake(context)
            guard handshakeDone else { return }
        }
        var plaintext: ByteBuffer?
        while true {
            let count = scratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                if plaintext == nil { plaintext = context.channel.allocator.buffer(capacity: Int(count)) }
                _ = scratch.withUnsafeBytes { plaintext!.writeBytes(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)])) }
                continue
            }
            let error = SSL_get_error(ssl, count)
            if error == SSL_ERROR_WANT_READ { break }
            if error == SSL_ERROR_ZERO_RETURN {
                // close_notify from the peer: deliver what we have, then close.
                if let plaintext { context.fireChannelRead(wrapInboundOut(plaintext)) }
                context.close(promise: nil)
                return
            }
            fail(context, TLSError("TLS read failed"))
            return
        }
        flushCiphertext(context) // key updates and session tickets
        if let plaintext { context.fireChannelRead(wrapInboundOut(plaintext)) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        guard handshakeDone else {
            pendingWrites.append((buffer, promise))
            return
        }
        encrypt(context, buffer, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard handshakeDone else { return }
        flushCiphertext(context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all, handshakeDone, let ssl, !failed {
            _ = SSL_shutdown(ssl) // queue close_notify; best effort
            flushCiphertext(context)
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    // MARK: internals

    private func encrypt(_ context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let ssl else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let ok = buffer.withUnsafeReadableBytes { bytes -> Bool in
            // A memory BIO never fills up, so SSL_write takes everything in one call.
            bytes.count == 0 || SSL_write(ssl, bytes.baseAddress, Int32(bytes.count)) == Int32(bytes.count)
        }
        guard ok else {
            promise?.fail(TLSError("TLS write failed"))
            fail(context, TLSError("TLS write failed"))
            return
        }
        flushCiphertext(context, promise: promise)
    }

    private func advanceHandshake(_ context: ChannelHandlerContext) {
        guard let ssl, !handshakeDone, !failed else { return }
        let result = SSL_do_handshake(ssl)
        flushCiphertext(context)
        context.flush()
        if result == 1 {
            handshakeDone = true
            if role == .client && COpenSSL_negotiatedH2(ssl) == 0 {
                fail(context, TLSError(plain: "the server did not negotiate HTTP/2 (ALPN h2)"))
                return
            }
            if role == .server { context.fireUserInboundEventTriggered(TLSApplicationProtocol(ssl)) }
            let writes = pendingWrites
            pendingWrites.removeAll()
            for (buffer, promise) in writes { encrypt(context, buffer, promise: promise) }
            context.flush()
            return
        }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
        var reason = TLSError("TLS handshake failed").description
        if role == .client {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                reason += " (certificate: \(String(cString: X509_verify_cert_error_string(verify))))"
            }
        }
        fail(context, TLSError(plain: reason))
    }

    /// Moves ciphertext OpenSSL produced into one socket write.
    private func flushCiphertext(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        guard let writeBIO else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let pending = Int(COpenSSL_BIO_pending(writeBIO))
        guard pending > 0 else {
            promise?.succeed()
            return
        }
        var out = context.channel.allocator.buffer(capacity: pending)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(writeBIO, bytes.baseAddress, Int32(pending))))
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: TLSError) {
        guard !failed else { return }
        failed = true
        flushCiphertext(context) // send any alert OpenSSL queued
        context.flush()
        for (_, promise) in pendingWrites { promise?.fail(error) }
        pendingWrites.removeAll()
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func isIPAddress(_ name: String) -> Bool {
        name.contains(":") || name.split(separator: ".").count == 4 && name.allSatisfy { $0.isNumber || $0 == "." }
    }
}

/// Fired up the pipeline when a server's handshake completes: what ALPN settled on
/// (nil when the client offered none).
struct TLSApplicationProtocol {
    let name: String?

    init(_ ssl: OpaquePointer) {
        var bytes: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &bytes, &length)
        name = bytes.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
    }
}
