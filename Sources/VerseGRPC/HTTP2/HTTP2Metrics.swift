import CoreMetrics

/// HTTP/2 traffic: bytes, and the frames this process sent that end streams or
/// connections, by error code (a bounded set).
enum HTTP2Metrics {
    /// HTTP/2 bytes read and written on every connection of the process (gRPC, and the
    /// gate's HTTPS port on h2), TLS records excluded.
    static let bytesReceived = Counter(label: "swiftverse_http2_received_bytes_total")
    static let bytesSent = Counter(label: "swiftverse_http2_sent_bytes_total")
    /// Streams open on every HTTP/2 connection of the process, both directions.
    static let streamsOpen = Meter(label: "swiftverse_http2_streams_open")
    /// DATA bytes queued on streams and not yet framed (flow control or a full socket
    /// holds them): on a gate, its clients' unread pushes.
    static let queuedDataBytes = Meter(label: "swiftverse_http2_queued_data_bytes")
    /// Idle connections' nghttp2 frame buffers given back to the system (see
    /// NGHTTP2FrameBuffer): one per connection each time it falls idle.
    static let frameBuffersReleased = Counter(label: "swiftverse_http2_idle_frame_buffers_released_total")

    /// Connections the gRPC server answered with "too many connections" (maxConnections).
    static let connectionsRefused = Counter(label: "swiftverse_grpc_server_connections_refused_total")

    static let resetsSent = ByLabel { (code: HTTP2ErrorCode) in
        Counter(label: "swiftverse_http2_rst_stream_sent_total", dimensions: [("code", code.name)])
    }
    static let goAwaysSent = ByLabel { (code: HTTP2ErrorCode) in
        Counter(label: "swiftverse_http2_goaway_sent_total", dimensions: [("code", code.name)])
    }
}
