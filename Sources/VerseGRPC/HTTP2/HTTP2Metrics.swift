import CoreMetrics
import NIOConcurrencyHelpers

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

    /// Connections the gRPC server answered with "too many connections" (maxConnections).
    static let connectionsRefused = Counter(label: "swiftverse_grpc_server_connections_refused_total")

    private static let resets = NIOLockedValueBox<[UInt32: Counter]>([:])
    private static let goAways = NIOLockedValueBox<[UInt32: Counter]>([:])

    static func resetsSent(_ code: HTTP2ErrorCode) -> Counter { counter(resets, "swiftverse_http2_rst_stream_sent_total", code) }
    static func goAwaysSent(_ code: HTTP2ErrorCode) -> Counter { counter(goAways, "swiftverse_http2_goaway_sent_total", code) }

    private static func counter(_ table: NIOLockedValueBox<[UInt32: Counter]>, _ label: String, _ code: HTTP2ErrorCode) -> Counter {
        table.withLockedValue { counters in
            if let counter = counters[code.rawValue] { return counter }
            let counter = Counter(label: label, dimensions: [("code", code.name)])
            counters[code.rawValue] = counter
            return counter
        }
    }
}
