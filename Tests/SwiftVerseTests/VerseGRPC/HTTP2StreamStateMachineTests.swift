import Testing
@testable import VerseGRPC

@Suite("HTTP/2: the stream state machine")
struct HTTP2StreamStateMachineTests {
    typealias Machine = HTTP2StreamStateMachine

    @Test func aServerStreamSendsItsHeadOnceThenDataThenItsEnd() {
        var stream = Machine.server()
        do { let result = stream.queueData(); #expect(result == .refuse) } // no DATA before the head
        do { let result = stream.finish(); #expect(result == .refuse) }
        do { let result = stream.sendHeaders(endStream: false); #expect(result) }
        #expect(stream.outbound == .open)
        do { let result = stream.sendHeaders(endStream: false); #expect(!result) } // a second head is not sent
        do { let result = stream.queueData(); #expect(result == .queue(resume: false)) }
        do { let result = stream.provideData(queued: 100, capacity: 60); #expect(result == .send(count: 60, end: false)) }
        do { let result = stream.provideData(queued: 40, capacity: 60); #expect(result == .send(count: 40, end: false)) }
        do { let result = stream.provideData(queued: 0, capacity: 60); #expect(result == .park) }
        #expect(stream.providerParked)
        do { let result = stream.finish(); #expect(result == .queue(resume: true)) } // the parked provider must be woken
        #expect(stream.outbound == .finishing)
        do { let result = stream.queueData(); #expect(result == .refuse) } // nothing after finishing
        do { let result = stream.provideData(queued: 0, capacity: 60); #expect(result == .send(count: 0, end: true)) }
        #expect(stream.outbound == .ended)
        do { let result = stream.provideData(queued: 0, capacity: 60); #expect(result == .fail) }
        do { let result = stream.finish(); #expect(result == .refuse) }
    }

    @Test func aHeadWithEndStreamIsTheWholeResponse() {
        var stream = Machine.server()
        do { let result = stream.sendHeaders(endStream: true); #expect(result) }
        #expect(stream.outbound == .ended)
        do { let result = stream.queueData(); #expect(result == .refuse) }
        do { let result = stream.finish(); #expect(result == .refuse) }
        do { let result = stream.provideData(queued: 0, capacity: 10); #expect(result == .fail) }
    }

    @Test func finishingWaitsForTheQueueToDrain() {
        var stream = Machine.clientRequest()
        do { let result = stream.queueData(); #expect(result == .queue(resume: false)) }
        do { let result = stream.finish(); #expect(result == .queue(resume: false)) }
        do { let result = stream.provideData(queued: 30, capacity: 20); #expect(result == .send(count: 20, end: false)) }
        do { let result = stream.provideData(queued: 10, capacity: 20); #expect(result == .send(count: 10, end: true)) }
    }

    @Test func queuingWakesAParkedProviderOnce() {
        var stream = Machine.clientRequest()
        do { let result = stream.provideData(queued: 0, capacity: 20); #expect(result == .park) }
        do { let result = stream.queueData(); #expect(result == .queue(resume: true)) }
        do { let result = stream.queueData(); #expect(result == .queue(resume: false)) }
    }

    @Test func aWriterPastTheHighWatermarkWaitsUntilTheQueueIsBelowHalf() {
        var stream = Machine.clientRequest()
        do { let result = stream.queued(backlog: 50, highWatermark: 100); #expect(result) }
        do { let result = stream.drained(backlog: 10, highWatermark: 100); #expect(!result) } // nobody is waiting
        do { let result = stream.queued(backlog: 100, highWatermark: 100); #expect(!result) }
        #expect(stream.writerBlocked)
        do { let result = stream.drained(backlog: 50, highWatermark: 100); #expect(!result) } // not below half yet
        do { let result = stream.drained(backlog: 49, highWatermark: 100); #expect(result) }
        do { let result = stream.drained(backlog: 0, highWatermark: 100); #expect(!result) } // told once
    }

    @Test func theFirstHeaderBlockIsTheHeadAndLaterOnesAreTrailers() {
        var stream = Machine.server()
        do { let result = stream.receivedHeaders(endStream: false); #expect(result == .initial) }
        #expect(!stream.remoteEnded)
        do { let result = stream.receivedHeaders(endStream: true); #expect(result == .later) }
        #expect(stream.remoteEnded)
        do { let result = stream.receivedHeaders(endStream: false); #expect(result == .unexpected) }
        do { let result = stream.receivedEndOfData(); #expect(!result) }
    }

    @Test func endOfDataEndsTheInboundSideOnce() {
        var stream = Machine.server()
        do { let result = stream.receivedHeaders(endStream: false); #expect(result == .initial) }
        do { let result = stream.receivedEndOfData(); #expect(result) }
        do { let result = stream.receivedEndOfData(); #expect(!result) }
    }

    @Test func aClosedStreamAbsorbsEveryEvent() {
        var stream = Machine.server()
        do { let result = stream.sendHeaders(endStream: false); #expect(result) }
        do { let result = stream.provideData(queued: 0, capacity: 1); #expect(result == .park) }
        do { let result = stream.close(); #expect(result) }
        do { let result = stream.close(); #expect(!result) } // the handler hears of it once
        #expect(!stream.providerParked)
        do { let result = stream.queueData(); #expect(result == .refuse) }
        do { let result = stream.finish(); #expect(result == .refuse) }
        do { let result = stream.provideData(queued: 5, capacity: 5); #expect(result == .fail) }
        do { let result = stream.receivedHeaders(endStream: false); #expect(result == .unexpected) }
        do { let result = stream.receivedEndOfData(); #expect(!result) }
        #expect(!Machine.server().isClosed)
        var idle = Machine.server()
        do { let result = idle.close(); #expect(result) }
        do { let result = idle.sendHeaders(endStream: true); #expect(!result) }
    }
}
