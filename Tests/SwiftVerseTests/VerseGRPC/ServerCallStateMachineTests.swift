import NIOCore
import Testing
@testable import VerseGRPC

/// Every event in every state of a server call, without sockets.
@Suite("gRPC server call state machine")
struct ServerCallStateMachineTests {
    typealias Machine = ServerCallStateMachine

    /// A machine driven to each state the tests start from.
    static func machine(_ state: Machine.State) -> Machine {
        switch state {
        case .awaitingRequest(let received):
            var machine = Machine(singleRequest: true)
            if received { _ = machine.receivedMessage() }
            return machine
        case .running(let requestOpen, let responseStarted):
            var machine = Machine(singleRequest: false)
            if !requestOpen { _ = machine.receivedEndOfRequest(partialBytes: 0) }
            if responseStarted { _ = machine.writing() }
            return machine
        case .finished:
            var machine = Machine(singleRequest: false)
            _ = machine.finish()
            return machine
        case .closed:
            var machine = Machine(singleRequest: false)
            _ = machine.streamClosed()
            return machine
        }
    }

    static let allStates: [Machine.State] = [
        .awaitingRequest(received: false), .awaitingRequest(received: true),
        .running(requestOpen: true, responseStarted: false), .running(requestOpen: true, responseStarted: true),
        .running(requestOpen: false, responseStarted: false), .running(requestOpen: false, responseStarted: true),
        .finished, .closed,
    ]

    @Test func theStartingStatesFollowTheMethodKind() {
        #expect(Machine(singleRequest: true).state == .awaitingRequest(received: false))
        #expect(Machine(singleRequest: false).state == .running(requestOpen: true, responseStarted: false))
        for state in Self.allStates { #expect(Self.machine(state).state == state) }
    }

    @Test func aUnaryCallRunsItsWholeCourse() {
        var machine = Machine(singleRequest: true)
        #expect(machine.receivedMessage() == .held)
        #expect(machine.receivedEndOfRequest(partialBytes: 0) == .startHandler)
        #expect(machine.state == .running(requestOpen: false, responseStarted: false))
        #expect(machine.writing() == .sendHeadersFirst)
        #expect(machine.writing() == .send)
        #expect(machine.finish() == .sendTrailers)
        #expect(machine.state == .finished)
        #expect(machine.streamClosed() == .release)
        #expect(machine.state == .closed)
    }

    @Test func messagesInEachState() {
        let expected: [Machine.State: Machine.OnMessage] = [
            .awaitingRequest(received: false): .held,
            .awaitingRequest(received: true): .fail(GRPCStatus(.internal, "the client sent more than one request message to a single-request method")),
            .running(requestOpen: true, responseStarted: false): .deliver,
            .running(requestOpen: true, responseStarted: true): .deliver,
            .running(requestOpen: false, responseStarted: false): .discard,
            .running(requestOpen: false, responseStarted: true): .discard,
            .finished: .discard,
            .closed: .discard,
        ]
        for state in Self.allStates {
            var machine = Self.machine(state)
            #expect(machine.receivedMessage() == expected[state], "\(state)")
        }
    }

    @Test func halfClosesInEachState() {
        let expected: [Machine.State: Machine.OnEndOfRequest] = [
            .awaitingRequest(received: false): .fail(GRPCStatus(.internal, "the client half-closed without sending a request message")),
            .awaitingRequest(received: true): .startHandler,
            .running(requestOpen: true, responseStarted: false): .endInbox,
            .running(requestOpen: true, responseStarted: true): .endInbox,
            .running(requestOpen: false, responseStarted: false): .nothing,
            .running(requestOpen: false, responseStarted: true): .nothing,
            .finished: .nothing,
            .closed: .nothing,
        ]
        for state in Self.allStates {
            var machine = Self.machine(state)
            #expect(machine.receivedEndOfRequest(partialBytes: 0) == expected[state], "\(state)")
        }
        // A half-close in the middle of a message fails every live call.
        for state in Self.allStates {
            var machine = Self.machine(state)
            let outcome = machine.receivedEndOfRequest(partialBytes: 3)
            #expect(outcome == (machine.isLive
                ? .fail(GRPCStatus(.internal, "the request ended in the middle of a message (3 bytes of a partial message)"))
                : .nothing), "\(state)")
        }
    }

    @Test func writesInEachState() {
        let expected: [Machine.State: (Machine.OnWrite, Machine.State)] = [
            .awaitingRequest(received: false): (.reject, .awaitingRequest(received: false)),
            .awaitingRequest(received: true): (.reject, .awaitingRequest(received: true)),
            .running(requestOpen: true, responseStarted: false): (.sendHeadersFirst, .running(requestOpen: true, responseStarted: true)),
            .running(requestOpen: true, responseStarted: true): (.send, .running(requestOpen: true, responseStarted: true)),
            .running(requestOpen: false, responseStarted: false): (.sendHeadersFirst, .running(requestOpen: false, responseStarted: true)),
            .running(requestOpen: false, responseStarted: true): (.send, .running(requestOpen: false, responseStarted: true)),
            .finished: (.reject, .finished),
            .closed: (.reject, .closed),
        ]
        for state in Self.allStates {
            var machine = Self.machine(state)
            let (outcome, after) = expected[state]!
            #expect(machine.writing() == outcome, "\(state)")
            #expect(machine.state == after, "\(state)")
        }
    }

    @Test func finishesInEachState() {
        let expected: [Machine.State: Machine.OnFinish] = [
            .awaitingRequest(received: false): .sendTrailersOnly, // e.g. the deadline passed first
            .awaitingRequest(received: true): .sendTrailersOnly,
            .running(requestOpen: true, responseStarted: false): .sendTrailersOnly,
            .running(requestOpen: true, responseStarted: true): .sendTrailers,
            .running(requestOpen: false, responseStarted: false): .sendTrailersOnly,
            .running(requestOpen: false, responseStarted: true): .sendTrailers,
            .finished: .nothing, // a second status is never sent
            .closed: .nothing,
        ]
        for state in Self.allStates {
            var machine = Self.machine(state)
            #expect(machine.finish() == expected[state], "\(state)")
            #expect(machine.state == (state == .closed ? .closed : .finished), "\(state)")
        }
    }

    @Test func cutOffsAndClosesInEachState() {
        for state in Self.allStates {
            var machine = Self.machine(state)
            let live = machine.isLive
            #expect(machine.cutOff() == live, "\(state)")
            #expect(machine.cutOff() == false, "\(state): a second cut-off does nothing")
            var closing = Self.machine(state)
            let expected: Machine.OnClose = state == .closed ? .nothing : live ? .endCall : .release
            #expect(closing.streamClosed() == expected, "\(state)")
            #expect(closing.state == .closed)
            #expect(closing.streamClosed() == .nothing)
        }
    }

    @Test func theHeldRequestIsNotStartedAfterAnEnd() {
        var machine = Machine(singleRequest: true)
        _ = machine.receivedMessage()
        #expect(machine.finish() == .sendTrailersOnly) // the deadline passed before the half-close
        #expect(machine.receivedEndOfRequest(partialBytes: 0) == .nothing)
    }
}

