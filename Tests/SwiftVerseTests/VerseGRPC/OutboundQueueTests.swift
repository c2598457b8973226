import NIOCore
import Testing
@testable import VerseGRPC

/// A stream's queued DATA: the bytes come out as they went in, however nghttp2 asks
/// for them; a shared push is held, not copied; tiny writes are held together.
@Suite("HTTP/2 outbound queue")
struct OutboundQueueTests {
    @Test(arguments: [1, 2, 3, 4, 5])
    func bytesComeOutInOrderWhateverTheCuts(seed: UInt64) {
        var numbers = SeededNumbers(seed: seed)
        var queue = OutboundQueue()
        var expected: [UInt8] = []
        var received: [UInt8] = []
        let sizes = [1, 5, 63, 64, 65, 100, 700, 4096, 20_000]
        for round in 0..<400 {
            if numbers.next(below: 3) != 0 {
                let count = sizes[numbers.next(below: sizes.count)]
                let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ round) }
                queue.append(ByteBuffer(bytes: bytes))
                expected += bytes
            } else {
                let count = numbers.next(below: queue.readableBytes + 1) // as nghttp2 asks: up to what is queued
                var out = [UInt8](repeating: 0, count: count)
                out.withUnsafeMutableBytes { if count > 0 { queue.moveFront(count, to: $0.baseAddress!) } }
                received += out
            }
            #expect(queue.readableBytes == expected.count - received.count)
        }
        let rest = queue.readableBytes
        var out = [UInt8](repeating: 0, count: rest)
        out.withUnsafeMutableBytes { if rest > 0 { queue.moveFront(rest, to: $0.baseAddress!) } }
        received += out
        #expect(received == expected)
        #expect(queue.isEmpty && queue.buffers.isEmpty, "nothing held once drained")
    }

    /// Fan-out gives every recipient the same encoded push: a recipient that is behind
    /// holds that storage, not a copy of it.
    @Test func aPushQueuedBehindOthersIsHeldNotCopied() {
        let pushes = (0..<50).map { ByteBuffer(repeating: UInt8($0), count: 200) }
        var slow = OutboundQueue()
        for push in pushes { slow.append(push) }
        #expect(slow.readableBytes == 50 * 200)
        let held = slow.buffers
        #expect(held.count == 50)
        for (push, kept) in zip(pushes, held) {
            let same = push.withVeryUnsafeBytes { a in kept.withVeryUnsafeBytes { b in a.baseAddress == b.baseAddress } }
            #expect(same, "the push's own storage")
        }
    }

    /// With nothing queued, even a tiny buffer (a unary call's response) is held as
    /// given: no copy, no allocation.
    @Test func aLoneBufferIsHeldAsGiven() {
        let response = ByteBuffer(repeating: 7, count: 12)
        var queue = OutboundQueue()
        queue.append(response)
        let kept = queue.buffers
        #expect(kept.count == 1)
        let same = response.withVeryUnsafeBytes { a in kept[0].withVeryUnsafeBytes { b in a.baseAddress == b.baseAddress } }
        #expect(same, "the caller's own storage")
    }

    /// Writes under `smallestKept` bytes are copied together: a run of 5-byte writes
    /// holds about its bytes, not a buffer each.
    @Test func tinyWritesAreHeldTogether() {
        var queue = OutboundQueue()
        for index in 0..<1000 { queue.append(ByteBuffer(repeating: UInt8(index & 0xff), count: 5)) }
        #expect(queue.readableBytes == 5000)
        #expect(queue.buffers.count == 1, "\(queue.buffers.count) buffers")
        // A large push after them is held as given, and tiny ones after it start a new buffer.
        let push = ByteBuffer(repeating: 9, count: 1000)
        queue.append(push)
        queue.append(ByteBuffer(repeating: 1, count: 3))
        queue.append(ByteBuffer(repeating: 2, count: 3))
        #expect(queue.buffers.map(\.readableBytes) == [5000, 1000, 6])
        var out = [UInt8](repeating: 0, count: 6006)
        out.withUnsafeMutableBytes { queue.moveFront(6006, to: $0.baseAddress!) }
        #expect(Array(out[5000..<6000]) == [UInt8](repeating: 9, count: 1000))
        #expect(Array(out[6000...]) == [1, 1, 1, 2, 2, 2])
        #expect(queue.isEmpty)
    }

    @Test func removingAllLetsGoOfEverything() {
        var queue = OutboundQueue()
        queue.append(ByteBuffer(repeating: 1, count: 500))
        queue.append(ByteBuffer(repeating: 2, count: 500))
        queue.removeAll()
        #expect(queue.isEmpty && queue.buffers.isEmpty)
        queue.append(ByteBuffer(repeating: 3, count: 10))
        var out = [UInt8](repeating: 0, count: 10)
        out.withUnsafeMutableBytes { queue.moveFront(10, to: $0.baseAddress!) }
        #expect(out == [UInt8](repeating: 3, count: 10))
    }
}
