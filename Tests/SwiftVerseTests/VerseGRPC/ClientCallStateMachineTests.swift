import Testing
@testable import VerseGRPC

/// Every event in every state of a client call, without sockets.
@Suite("gRPC client call state machine")
struct ClientCallStateMachineTests {
    typealias Machine = ClientCallStateMachine
    typealias Head = ClientCallStateMachine.Head

    static let responseHead = Head(httpStatus: 200, contentType: "application/grpc", endStream: false)

    static func machine(_ state: Machine.State) -> Machine {
        var machine = Machine()
        switch state {
        case .awaitingResponseHead(let requestOpen):
            if !requestOpen { _ = machine.halfClosing() }
        case .receivingResponse(let requestOpen):
            _ = machine.receivedHeaders(responseHead)
            if !requestOpen { _ = machine.halfClosing() }
        case .completed:
            _ = machine.complete(.ok, cause: .serverStatus)
        }
        return machine
    }

    static let allStates: [Machine.State] = [
        .awaitingResponseHead(requestOpen: true), .awaitingResponseHead(requestOpen: false),
        .receivingResponse(requestOpen: true), .receivingResponse(requestOpen: false), .completed,
    ]

    @Test func aCallRunsItsWholeCourse() {
        var machine = Machine()
        #expect(machine.state == .awaitingResponseHead(requestOpen: true))
        #expect(machine.writing() == .send)
        let halfClosed = machine.halfClosing()
        #expect(halfClosed)
        let head = machine.receivedHeaders(Self.responseHead)
        #expect(head == .responseHead(encoding: nil))
        #expect(machine.state == .receivingResponse(requestOpen: false) && machine.acceptsData)
        let trailers = machine.receivedHeaders(Head(endStream: true))
        #expect(trailers == .trailers)
        let completed = machine.complete(.ok, cause: .serverStatus)
        #expect(completed)
        #expect(machine.state == .completed && machine.status == .ok)
        for state in Self.allStates { #expect(Self.machine(state).state == state) }
    }

    @Test func writesAndHalfClosesInEachState() {
        let stopped = GRPCStatus(.internal, "a message was sent after the request side was closed")
        let writes: [Machine.State: Machine.OnWrite] = [
            .awaitingResponseHead(requestOpen: true): .send,
            .awaitingResponseHead(requestOpen: false): .reject(stopped),
            .receivingResponse(requestOpen: true): .send,
            .receivingResponse(requestOpen: false): .reject(stopped),
            .completed: .reject(GRPCStatus(.cancelled, "the call has ended")),
        ]
        for state in Self.allStates {
            #expect(Self.machine(state).writing() == writes[state], "\(state)")
            var machine = Self.machine(state)
            let open = writes[state] == .send
            let first = machine.halfClosing(), second = machine.halfClosing()
            #expect(first == open, "\(state)")
            #expect(second == false, "\(state): END_STREAM is sent once")
        }
        // A write after a failure is refused with the call's own status.
        var failed = Machine()
        _ = failed.complete(GRPCStatus(.unavailable, "gone"), cause: .connectionLost)
        #expect(failed.writing() == .reject(GRPCStatus(.unavailable, "gone")))
    }

    @Test func theResponseHeadIsCheckedBeforeAnythingIsDelivered() {
        let cases: [(Head, Machine.OnHeaders)] = [
            (Head(httpStatus: 100, contentType: nil, endStream: false), .informational),
            (Head(httpStatus: 503, contentType: "text/html", endStream: true), .fail(GRPCStatus.fromHTTPStatus(503))),
            (Head(httpStatus: nil, contentType: "application/grpc", endStream: false), .fail(GRPCStatus.fromHTTPStatus(0))),
            (Head(httpStatus: 200, contentType: "text/plain", endStream: false),
             .fail(GRPCStatus(.unknown, "response content-type \"text/plain\" is not application/grpc"))),
            (Head(httpStatus: 200, contentType: "application/grpc+proto", encoding: "gzip", endStream: false), .responseHead(encoding: .gzip)),
            (Head(httpStatus: 200, contentType: "application/grpc", encoding: "identity", endStream: false), .responseHead(encoding: nil)),
            (Head(httpStatus: 200, contentType: "application/grpc", encoding: "snappy", endStream: false),
             .fail(GRPCStatus(.internal, "the response's grpc-encoding \"snappy\" is not supported"))),
            // Trailers-Only carries no message, so its encoding does not matter.
            (Head(httpStatus: 200, contentType: "application/grpc", encoding: "snappy", endStream: true), .trailersOnly),
        ]
        for (head, expected) in cases {
            var machine = Machine()
            let outcome = machine.receivedHeaders(head)
            #expect(outcome == expected, "\(head)")
            let stillWaiting = expected == .informational || expected == .trailersOnly || { if case .fail = expected { true } else { false } }()
            #expect(machine.state == (stillWaiting ? .awaitingResponseHead(requestOpen: true) : .receivingResponse(requestOpen: true)))
        }
    }

    @Test func headersDataAndEndingsInEachState() {
        let headers: [Machine.State: Machine.OnHeaders] = [
            .awaitingResponseHead(requestOpen: true): .responseHead(encoding: nil),
            .awaitingResponseHead(requestOpen: false): .responseHead(encoding: nil),
            .receivingResponse(requestOpen: true): .trailers,
            .receivingResponse(requestOpen: false): .trailers,
            .completed: .ignore,
        ]
        for state in Self.allStates {
            var machine = Self.machine(state)
            #expect(machine.acceptsData == (state == .receivingResponse(requestOpen: true) || state == .receivingResponse(requestOpen: false)))
            let outcome = machine.receivedHeaders(Self.responseHead)
            #expect(outcome == headers[state], "\(state)")
            var ending = Self.machine(state)
            let first = ending.complete(GRPCStatus(.cancelled, "x"), cause: .cancelled)
            let second = ending.complete(.ok, cause: .serverStatus)
            #expect(first == (state != .completed), "\(state)")
            #expect(second == false, "\(state): only the first ending counts")
            #expect(ending.state == .completed && !ending.acceptsData)
            if state != .completed { #expect(ending.cause == .cancelled && ending.status?.code == .cancelled, "\(state)") }
        }
    }
}
