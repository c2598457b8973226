import NIOConcurrencyHelpers
import Testing
@testable import VerseRuntime

@Suite("node: the shard gate")
struct ShardGateTests {
    @Test func callsEnterOnlyOwnedOpenShardsWhileNotSuspended() async {
        var gate = ShardGate()
        var entered = [gate.enter(1, owned: true), gate.enter(2, owned: false)]
        #expect(entered == [true, false])
        gate.suspended = true
        entered = [gate.enter(1, owned: true)]
        #expect(entered == [false])
        gate.suspended = false
        await withCheckedContinuation { done in
            let drainedNow = gate.release([3], done: done) // nothing runs in shard 3
            #expect(drainedNow)
            done.resume()
        }
        entered = [gate.enter(3, owned: true)]
        #expect(entered == [false]) // released: closed to new calls
        gate.keepReleasing { _ in false } // the map moved it elsewhere
        entered = [gate.enter(3, owned: true)]
        #expect(entered == [true])
    }

    /// A release waits for the last running call of its shards, and only for those.
    @Test func aReleaseEndsWhenTheLastCallInItsShardsLeaves() async {
        let gate = NIOLockedValueBox(ShardGate())
        let entered = gate.withLockedValue { [$0.enter(1, owned: true), $0.enter(1, owned: true), $0.enter(2, owned: true)] }
        #expect(entered == [true, true, true])
        let released = NIOLockedValueBox(false)
        let waiter = Task {
            await withCheckedContinuation { done in
                if gate.withLockedValue({ $0.release([1], done: done) }) { done.resume() }
            }
            released.withLockedValue { $0 = true }
        }
        while gate.withLockedValue({ $0.releasing.isEmpty }) { await Task.yield() }
        let other = gate.withLockedValue { $0.leave(2) }
        #expect(other.isEmpty) // another shard: no drain ends
        let firstOut = gate.withLockedValue { $0.leave(1) }
        #expect(firstOut.isEmpty) // one call of shard 1 still runs
        let finished = gate.withLockedValue { $0.leave(1) }
        #expect(finished.count == 1)
        #expect(!released.withLockedValue { $0 })
        for done in finished { done.resume() }
        await waiter.value
        #expect(released.withLockedValue { $0 })
    }
}
