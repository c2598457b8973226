import CNghttp2

/// The C side of HTTP2Connection: session construction, the callback table, and
/// header-list marshalling. C callbacks cannot capture context, so each one recovers
/// its HTTP2Connection from nghttp2's `user_data` (unretained: the connection deletes
/// the session before it can be freed).
enum NGHTTP2Glue {
    /// A session whose allocations go through `frameBuffer`'s hooks (see
    /// NGHTTP2FrameBuffer); the record must outlive the session.
    static func makeSession(server: Bool, userData: UnsafeMutableRawPointer,
                            frameBuffer: UnsafeMutablePointer<NGHTTP2FrameBuffer>) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback2(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Window updates follow what the application consumed, not what arrived:
        // that is how a slow reader pushes back on its sender.
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_no_closed_streams(option, 1)

        var session: OpaquePointer?
        var memory = NGHTTP2FrameBuffer.allocator(for: frameBuffer) // copied into the session
        frameBuffer.pointee.capturing = true
        defer { frameBuffer.pointee.capturing = false }
        let rv = server
            ? nghttp2_session_server_new3(&session, callbacks, userData, option, &memory)
            : nghttp2_session_client_new3(&session, callbacks, userData, option, &memory)
        return rv == 0 ? session : nil
    }

    static func submitSettings(_ session: OpaquePointer, _ settings: HTTP2Settings, server: Bool) {
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.streamWindowSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
            // gRPC has no use for RFC 7540 stream priorities (RFC 9218, section 2.1):
            // nghttp2 then keeps no priority tree and schedules streams more simply.
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        if !server {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        if settings.headerTableSize != HTTP2Settings().headerTableSize { // the default goes unsaid
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE.rawValue), value: settings.headerTableSize))
        }
        _ = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        _ = nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
    }

    /// Every stream's data provider: the stream is found by id, so no per-stream
    /// pointer is handed to C.
    static var dataProvider: nghttp2_data_provider {
        nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readData)
    }

    /// Calls `body` with an nghttp2_nv array for the concatenation of up to three header
    /// lists (passing them apart spares building a joined array). nghttp2 copies the
    /// bytes during the submit call, so stack scratch space serves: no heap allocation
    /// for a typical header block.
    static func withNameValues<R>(_ first: [HTTP2Header], _ second: [HTTP2Header] = [], _ third: [HTTP2Header] = [],
                                  _ body: (UnsafeMutablePointer<nghttp2_nv>, Int) -> R) -> R {
        var byteCount = 1
        func measure(_ list: [HTTP2Header]) {
            for header in list { byteCount += header.name.utf8.count + header.value.utf8.count }
        }
        measure(first)
        measure(second)
        measure(third)
        let count = first.count + second.count + third.count
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(count, 1)) { nva in
                var offset = 0
                var index = 0
                func fill(_ list: [HTTP2Header]) {
                    for header in list {
                        let name = copy(header.name, into: bytes, at: &offset)
                        let value = copy(header.value, into: bytes, at: &offset)
                        nva.initializeElement(at: index, to: nghttp2_nv(
                            name: name.base, value: value.base, namelen: name.count, valuelen: value.count,
                            flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                        index += 1
                    }
                }
                fill(first)
                fill(second)
                fill(third)
                return body(nva.baseAddress!, count)
            }
        }
    }

    private static func copy(_ string: String, into bytes: UnsafeMutableBufferPointer<UInt8>, at offset: inout Int)
        -> (base: UnsafeMutablePointer<UInt8>, count: Int) {
        let base = bytes.baseAddress! + offset
        var string = string // withUTF8 needs a var; native strings are not copied
        let count = string.withUTF8 { utf8 -> Int in
            if let source = utf8.baseAddress { base.update(from: source, count: utf8.count) }
            return utf8.count
        }
        offset += count
        return (base, count)
    }

    /// Runs `body` with the connection behind `userData`, without retaining it: the
    /// connection outlives its session, and callbacks run a dozen times per call (a
    /// retain/release pair each otherwise).
    private static func withConnection<R>(_ userData: UnsafeMutableRawPointer?, _ body: (HTTP2Connection) -> R) -> R {
        Unmanaged<HTTP2Connection>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
    }

    private static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
        guard let frame else { return 0 }
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        return withConnection(userData) { $0.onBeginHeaders(streamID: frame.pointee.hd.stream_id, category: frame.pointee.headers.cat.rawValue) }
    }

    private static let onHeader: nghttp2_on_header_callback2 = { _, frame, name, value, _, userData in
        guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), let name, let value else { return 0 }
        return withConnection(userData) {
            $0.onHeader(streamID: frame.pointee.hd.stream_id, name: HTTP2HeaderBlock.Received(name), value: HTTP2HeaderBlock.Received(value))
        }
    }

    private static let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
        guard let frame else { return 0 }
        let header = frame.pointee.hd
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(header.type) {
        case NGHTTP2_HEADERS.rawValue:
            return withConnection(userData) { $0.onHeadersComplete(streamID: header.stream_id, endStream: endStream) }
        case NGHTTP2_DATA.rawValue:
            if endStream { withConnection(userData) { $0.onDataEndStream(streamID: header.stream_id) } }
        case NGHTTP2_GOAWAY.rawValue:
            withConnection(userData) { $0.onGoAway(lastStreamID: frame.pointee.goaway.last_stream_id, errorCode: frame.pointee.goaway.error_code) }
        case NGHTTP2_PING.rawValue:
            if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 {
                let opaque = withUnsafeBytes(of: frame.pointee.ping.opaque_data) { $0.loadUnaligned(as: UInt64.self) }
                withConnection(userData) { $0.onPingAck(UInt64(bigEndian: opaque)) }
            }
        default:
            break
        }
        return 0
    }

    private static let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
        withConnection(userData) { $0.onDataChunk(streamID: streamID, data: UnsafeRawBufferPointer(start: data, count: length)) }
    }

    private static let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
        withConnection(userData) { $0.onStreamClose(streamID: streamID, errorCode: errorCode) }
        return 0
    }

    private static let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
        guard let frame else { return 0 }
        let header = frame.pointee.hd
        let type = UInt32(header.type)
        if (type == NGHTTP2_HEADERS.rawValue || type == NGHTTP2_DATA.rawValue)
            && header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
            withConnection(userData) { $0.onEndStreamSent(streamID: header.stream_id) }
        }
        return 0
    }

    private static let readData: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, userData in
        guard let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
        return withConnection(userData) { $0.readData(streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buffer, count: length), flags: flags) }
    }
}
