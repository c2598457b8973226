/// How a client call ended, apart from its status: callers that retry elsewhere (a
/// node link) tell a lost connection from a server's answer by this, never by the text
/// of a status message.
public enum CallEndCause: Sendable, Equatable {
    /// The server's status (trailers, or a Trailers-Only response).
    case serverStatus
    /// The stream was reset (RST_STREAM, or GOAWAY before it was processed).
    case reset
    /// The connection went away under the call.
    case connectionLost
    /// The call never started: the connection could not take it.
    case notStarted
    /// Ended here: cancelled by the caller, or its deadline passed.
    case cancelled
    case deadlineExceeded
    /// The server broke the protocol (a bad head, a bad message, no trailers).
    case protocolError
}

/// Where one client call is, as one value: the request side (what the caller sends)
/// and the response side (what the server sends), from the request head to the status.
///
/// Pure: each event returns what the stream must do, and the stream (`ClientStream`)
/// only carries that out. Every event has a defined answer in every state, so a server
/// that breaks the protocol ends the call with a status instead of confusing it.
///
///     awaitingResponseHead ──(response head)──▶ receivingResponse ──(trailers)──▶ completed
///              │  └────────(Trailers-Only)────────────────────────────────────────▶ │
///              └──(reset, lost connection, deadline, cancel, bad head)─────────────▶ completed
struct ClientCallStateMachine {
    enum State: Hashable {
        /// The request head is out; no response head yet. `requestOpen`: the caller may
        /// still send messages (it has not half-closed).
        case awaitingResponseHead(requestOpen: Bool)
        /// The response head arrived: messages flow until the trailers.
        case receivingResponse(requestOpen: Bool)
        /// The status is known; nothing more happens.
        case completed
    }

    private(set) var state = State.awaitingResponseHead(requestOpen: true)
    /// The status the call completed with, and why it ended.
    private(set) var status: GRPCStatus?
    private(set) var cause: CallEndCause?

    var isCompleted: Bool { state == .completed }

    // MARK: request side

    enum OnWrite: Equatable {
        case send
        /// Refused with this status (the call's own, once it has one).
        case reject(GRPCStatus)
    }

    func writing() -> OnWrite {
        switch state {
        case .awaitingResponseHead(requestOpen: true), .receivingResponse(requestOpen: true):
            return .send
        case .awaitingResponseHead(requestOpen: false), .receivingResponse(requestOpen: false):
            return .reject(GRPCStatus(.internal, "a message was sent after the request side was closed"))
        case .completed:
            return .reject(status.flatMap { $0.isOK ? nil : $0 } ?? GRPCStatus(.cancelled, "the call has ended"))
        }
    }

    /// The caller half-closes. True when the stream should send END_STREAM now.
    mutating func halfClosing() -> Bool {
        switch state {
        case .awaitingResponseHead(requestOpen: true):
            state = .awaitingResponseHead(requestOpen: false)
            return true
        case .receivingResponse(requestOpen: true):
            state = .receivingResponse(requestOpen: false)
            return true
        case .awaitingResponseHead(requestOpen: false), .receivingResponse(requestOpen: false), .completed:
            return false
        }
    }

    // MARK: response side

    /// What the stream read from a received header block.
    struct Head: Equatable {
        var httpStatus: Int?
        var contentType: String?
        /// grpc-encoding, when it is not identity.
        var encoding: String?
        var endStream: Bool
    }

    enum OnHeaders: Equatable {
        /// A 1xx response: the real head follows.
        case informational
        /// The response head: deliver its metadata; messages follow (in `encoding`).
        case responseHead(encoding: GRPCCompression?)
        /// Head and status in one block (Trailers-Only): deliver the metadata, then settle.
        case trailersOnly
        /// The trailers: settle the status from them.
        case trailers
        /// The server broke the protocol: reset the stream and complete with this.
        case fail(GRPCStatus)
        /// The call is over: ignore it.
        case ignore
    }

    mutating func receivedHeaders(_ head: Head) -> OnHeaders {
        switch state {
        case .awaitingResponseHead(let requestOpen):
            if let code = head.httpStatus, (100..<200).contains(code) { return .informational }
            guard head.httpStatus == 200 else { return .fail(GRPCStatus.fromHTTPStatus(head.httpStatus ?? 0)) }
            guard let contentType = head.contentType, contentType.hasPrefix("application/grpc") else {
                return .fail(GRPCStatus(.unknown, "response content-type \"\(head.contentType ?? "")\" is not application/grpc"))
            }
            if head.endStream { return .trailersOnly }
            var encoding: GRPCCompression?
            if let name = head.encoding, name != "identity" {
                guard let known = GRPCCompression(rawValue: name) else {
                    return .fail(GRPCStatus(.internal, "the response's grpc-encoding \"\(name.prefix(40))\" is not supported"))
                }
                encoding = known
            }
            state = .receivingResponse(requestOpen: requestOpen)
            return .responseHead(encoding: encoding)
        case .receivingResponse:
            return .trailers
        case .completed:
            return .ignore
        }
    }

    /// A response message's bytes arrived: true to read them, false to discard them.
    var acceptsData: Bool {
        switch state {
        case .receivingResponse: true
        // DATA before the head is a protocol error nghttp2 refuses; after the end, late.
        case .awaitingResponseHead, .completed: false
        }
    }

    /// The call ends with `status` (trailers, a reset, a lost connection, the deadline,
    /// a cancel, a protocol error). False when it had ended already: only the first
    /// ending counts.
    mutating func complete(_ status: GRPCStatus, cause: CallEndCause) -> Bool {
        guard !isCompleted else { return false }
        state = .completed
        self.status = status
        self.cause = cause
        return true
    }
}
