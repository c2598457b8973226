import NIOCore

/// Where one server call is, as one value: the request side (what the client sends) and
/// the response side (what the handler sends), from the stream's opening to its close.
///
/// Pure: each event returns what the stream must do, and the stream (`ServerStream`)
/// only carries that out. Every event has a defined answer in every state, the ones
/// that should not happen included, so a misbehaving peer or handler gets a status,
/// never a crash or a stuck call.
///
///     awaitingRequest ──(message + half-close)──▶ running ──(finish / cut off)──▶ finished
///            │                                      │                              │
///            └───────────────(stream closed)────────┴──────────────────────────────┴──▶ closed
///
/// Methods that read a stream of requests start in `running` with the request side open.
struct ServerCallStateMachine {
    enum State: Hashable {
        /// A single-request method (unary, server streaming): its handler starts once
        /// the one message and the client's half-close have both arrived.
        case awaitingRequest(received: Bool)
        /// The handler runs. `requestOpen`: the client may still send messages.
        /// `responseStarted`: the response head is sent (else a finish is Trailers-Only).
        case running(requestOpen: Bool, responseStarted: Bool)
        /// The call's status is sent, or the stream reset; the stream is not closed yet.
        case finished
        /// The stream is closed: nothing more happens.
        case closed
    }

    private(set) var state: State

    init(singleRequest: Bool) {
        state = singleRequest ? .awaitingRequest(received: false) : .running(requestOpen: true, responseStarted: false)
    }

    /// The call has not ended: writes and messages still mean something.
    var isLive: Bool {
        switch state {
        case .awaitingRequest, .running: true
        case .finished, .closed: false
        }
    }

    // MARK: request side

    enum OnMessage: Equatable {
        /// Hand it to the handler's inbox.
        case deliver
        /// The single request: the stream keeps it for the handler's start, and gives its
        /// window back now (nobody reads an inbox).
        case held
        /// The call is over: drop it, but give its window back.
        case discard
        /// The client broke the method's contract: end the call with this.
        case fail(GRPCStatus)
    }

    mutating func receivedMessage() -> OnMessage {
        switch state {
        case .awaitingRequest(received: false):
            state = .awaitingRequest(received: true)
            return .held
        case .awaitingRequest(received: true):
            return .fail(GRPCStatus(.internal, "the client sent more than one request message to a single-request method"))
        case .running(requestOpen: true, _):
            return .deliver
        case .running(requestOpen: false, _), .finished, .closed:
            return .discard
        }
    }

    enum OnEndOfRequest: Equatable {
        /// Start the single-request handler with the message the stream holds. (The
        /// message stays with the stream: carried here, every call would copy it twice.)
        case startHandler
        /// End the handler's inbox normally.
        case endInbox
        case fail(GRPCStatus)
        case nothing
    }

    /// The client half-closed; `partialBytes` of an unfinished message were left over.
    mutating func receivedEndOfRequest(partialBytes: Int) -> OnEndOfRequest {
        guard isLive else { return .nothing }
        if partialBytes > 0 {
            return .fail(GRPCStatus(.internal, "the request ended in the middle of a message (\(partialBytes) bytes of a partial message)"))
        }
        switch state {
        case .awaitingRequest(received: false):
            return .fail(GRPCStatus(.internal, "the client half-closed without sending a request message"))
        case .awaitingRequest(received: true):
            state = .running(requestOpen: false, responseStarted: false)
            return .startHandler
        case .running(requestOpen: true, let responseStarted):
            state = .running(requestOpen: false, responseStarted: responseStarted)
            return .endInbox
        case .running(requestOpen: false, _), .finished, .closed:
            return .nothing
        }
    }

    // MARK: response side

    enum OnWrite: Equatable {
        /// The response head goes first, then the message.
        case sendHeadersFirst
        case send
        /// The call has ended (or its handler has not started): refuse the write.
        case reject
    }

    /// The handler writes a message (or asks for the response head on its own).
    mutating func writing() -> OnWrite {
        switch state {
        case .running(let requestOpen, responseStarted: false):
            state = .running(requestOpen: requestOpen, responseStarted: true)
            return .sendHeadersFirst
        case .running(_, responseStarted: true):
            return .send
        case .awaitingRequest, .finished, .closed:
            return .reject
        }
    }

    enum OnFinish: Equatable {
        /// Send the status in trailers after the response already sent.
        case sendTrailers
        /// No response yet: head and status in one HEADERS frame (Trailers-Only).
        case sendTrailersOnly
        /// Already finished or closed.
        case nothing
    }

    /// The call ends with a status: the handler's, a deadline, or a protocol error.
    mutating func finish() -> OnFinish {
        switch state {
        case .running(_, responseStarted: true):
            state = .finished
            return .sendTrailers
        case .running(_, responseStarted: false), .awaitingRequest:
            state = .finished
            return .sendTrailersOnly
        case .finished, .closed:
            return .nothing
        }
    }

    /// The peer stopped reading: the stream is reset instead of finished. False when the
    /// call had ended already.
    mutating func cutOff() -> Bool {
        guard isLive else { return false }
        state = .finished
        return true
    }

    enum OnClose: Equatable {
        /// The call was still live: end it (the peer cancelled or left), then let go.
        case endCall
        /// It had finished: only let go.
        case release
        case nothing
    }

    mutating func streamClosed() -> OnClose {
        let wasLive = isLive
        let wasClosed = state == .closed
        state = .closed
        return wasClosed ? .nothing : wasLive ? .endCall : .release
    }
}
