import NIOCore

/// TLS for an HTTP/1.1 server on this stack's OpenSSL handler (the gate's HTTP port):
/// ALPN settles on "http/1.1"; a client that offers only other protocols is refused
/// with a fatal alert.
public struct HTTP1ServerTLS: Sendable {
    let context: TLSContext

    public init(_ configuration: TLSConfiguration) throws {
        context = try TLSContext(server: configuration, protocol: .http11)
    }

    /// Adds the TLS handler to a new connection's pipeline, before the HTTP handlers.
    public func addHandler(to pipeline: ChannelPipeline.SynchronousOperations) throws {
        try pipeline.addHandler(TLSHandler(context: context, role: .server, serverName: nil))
    }
}
