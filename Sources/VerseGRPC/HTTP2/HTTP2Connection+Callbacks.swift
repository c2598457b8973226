import CNghttp2
import NIOCore

/// nghttp2's events for this connection (called by NGHTTP2Glue, inside mem_recv and
/// mem_send): header blocks, DATA, stream closes, GOAWAY, PING acks, and the data
/// provider that feeds a stream's queued bytes to nghttp2 as the window allows.
extension HTTP2Connection {
    // MARK: nghttp2 callbacks (called by NGHTTP2Glue, inside mem_recv/mem_send)

    func onBeginHeaders(streamID: Int32, category: UInt32) -> Int32 {
        if role == .server && category == NGHTTP2_HCAT_REQUEST.rawValue {
            streams.insert(HTTP2Stream(id: streamID, state: .server()))
        }
        headerBlock.removeAll()
        headerBlockSize = 0
        headerBlockTooLarge = false
        return 0
    }

    /// One field of the header block being received.
    func onHeader(streamID: Int32, name: HTTP2HeaderBlock.Received, value: HTTP2HeaderBlock.Received) -> Int32 {
        headerBlockSize += HTTP2Stream.headerSize(nameLength: name.bytes.count, valueLength: value.bytes.count)
        if headerBlockSize > Int(settings.maxHeaderListSize) {
            // Stop storing; a block somewhat over the limit is answered as a whole once
            // it is complete (RESOURCE_EXHAUSTED, with its size).
            headerBlockTooLarge = true
            headerBlock.removeAll()
            if headerBlockSize > Self.abandonHeaderBlockFactor * Int(settings.maxHeaderListSize) {
                return abandonHeaderBlock(streamID: streamID)
            }
            return 0
        }
        headerBlock.append(name: name, value: value)
        return 0
    }

    /// A header block far past the limit: an HPACK bomb (one large table entry
    /// referenced thousands of times) costs nghttp2 a validation pass over every
    /// reference's value, tens of milliseconds a frame. Reset the stream now: nghttp2
    /// decodes the rest of the block for HPACK's state only, without validating or
    /// calling back. A connection that keeps sending such blocks is sent away.
    private func abandonHeaderBlock(streamID: Int32) -> Int32 {
        guard let session else { return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        HTTP2Metrics.resetsSent[.enhanceYourCalm].increment()
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, HTTP2ErrorCode.enhanceYourCalm.rawValue)
        abandonedHeaderBlocks += 1
        if abandonedHeaderBlocks >= Self.abandonedHeaderBlocksBeforeGoAway {
            terminate(.enhanceYourCalm, reason: "\(abandonedHeaderBlocks) header blocks far over the limit")
        }
        return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }

    /// A block this many times the header list limit is reset at once, not answered.
    static let abandonHeaderBlockFactor = 4
    /// Blocks reset for size a connection may send before it is sent away.
    static let abandonedHeaderBlocksBeforeGoAway = 4

    func onHeadersComplete(streamID: Int32, endStream: Bool) -> Int32 {
        // Readers take what they need during the call; the storage is reused by the next block.
        defer { headerBlock.removeAll() }
        guard let stream = stream(streamID) else { return 0 }
        let block = stream.state.receivedHeaders(endStream: endStream)
        if block == .unexpected { return 0 } // nghttp2 refuses headers after END_STREAM itself
        if role == .server && block == .initial {
            if isDraining {
                resetStream(stream: streamID, code: .refusedStream)
                return 0
            }
            stream.handler = delegate?.connection(
                self, openedStream: streamID, headers: headerBlock, endStream: endStream,
                oversizedHeaders: headerBlockTooLarge ? headerBlockSize : nil)
        } else if headerBlockTooLarge {
            resetStream(stream: streamID, code: .protocolError)
        } else {
            stream.handler?.streamReceivedHeaders(headerBlock.headers(headerStrings), endStream: endStream)
        }
        return 0
    }

    func onDataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = stream(streamID), let handler = stream.handler else {
            // Nobody will read it: give the window back at once.
            if let session { _ = nghttp2_session_consume(session, streamID, data.count) }
            return 0
        }
        handler.streamReceivedData(data)
        return 0
    }

    func onDataEndStream(streamID: Int32) {
        guard let stream = stream(streamID), stream.state.receivedEndOfData() else { return }
        stream.handler?.streamReceivedEndOfData()
    }

    func onStreamClose(streamID: Int32, errorCode: UInt32) {
        guard let stream = streams.remove(streamID) else { return }
        if lastStream === stream { lastStream = nil }
        dataQueued(-stream.outbound.readableBytes) // never to be sent
        guard stream.state.close() else { return }
        stream.handler?.streamClosed(errorCode == 0 ? .normal : .reset(errorCode))
        stream.handler = nil
        if isDraining && streams.isEmpty { flushSoon() }
    }

    func onGoAway(lastStreamID: Int32, errorCode: UInt32) {
        if !isClosed { lifecycle = .draining }
        delegate?.connection(self, receivedGoAway: lastStreamID, errorCode: errorCode)
    }

    func onPingAck(_ opaque: UInt64) {
        pingAcknowledged(opaque)
    }

    /// The server finished its side (trailers or END_STREAM sent). If the client has
    /// not finished, RST_STREAM(NO_ERROR) tells it to stop sending (RFC 9113 8.1).
    func onEndStreamSent(streamID: Int32) {
        guard role == .server, let session, let stream = stream(streamID), !stream.state.remoteEnded else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, HTTP2ErrorCode.noError.rawValue)
    }

    /// Data provider: copies up to `length` queued bytes (across the queued buffers, so
    /// DATA frames come out as full as before); parks when none are queued.
    func readData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let session, let stream = stream(streamID) else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let count: Int
        switch stream.state.provideData(queued: stream.outbound.readableBytes, capacity: buffer.count) {
        case .fail:
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        case .park:
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        case .send(let sending, let end):
            count = sending
            if count > 0 {
                stream.outbound.moveFront(count, to: buffer.baseAddress!)
                dataQueued(-count)
            }
            if end {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                if let prepared = stream.preparedTrailers {
                    flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    _ = prepared.withNameValues { nva, n in nghttp2_submit_trailer(session, streamID, nva, n) }
                } else if let trailers = stream.trailers {
                    flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                    _ = NGHTTP2Glue.withNameValues(trailers, stream.moreTrailers) { nva, n in nghttp2_submit_trailer(session, streamID, nva, n) }
                }
            }
        }
        if stream.state.drained(backlog: stream.outbound.readableBytes, highWatermark: settings.outboundHighWatermark) {
            stream.handler?.streamWritable()
        }
        return count
    }
}
