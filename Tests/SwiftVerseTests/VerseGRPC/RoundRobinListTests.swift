import Testing
@testable import VerseGRPC

/// The frame-buffer reclaimer's list: each look sees an element at most once, and
/// every element when it has room, however removals during earlier and this look fall.
@Suite("Round-robin list")
struct RoundRobinListTests {
    @Test(arguments: 1...20)
    func aLookSeesEachElementOnceAndAllWhenItHasRoom(seed: Int) {
        var numbers = SeededNumbers(seed: UInt64(seed))
        var list = RoundRobinList<Int>()
        var next = 0
        for _ in 0..<300 {
            for _ in 0..<numbers.next(below: 4) { list.append(next); next += 1 }
            let before = Set(list.elements)
            let limit = numbers.next(below: 3) == 0 ? list.count + 1 : 1 + numbers.next(below: max(1, list.count))
            var seen: [Int] = []
            var removed: Set<Int> = []
            let counted = list.look(atMost: limit) { element in
                seen.append(element)
                switch numbers.next(below: 4) {
                case 0: removed.insert(element); return .remove
                case 1 where numbers.next(below: 8) == 0: removed.insert(element); return .removeAndStop
                default: return .keep
                }
            }
            #expect(counted == seen.count)
            #expect(Set(seen).count == seen.count, "seen twice in one look: \(seen)")
            #expect(Set(list.elements) == before.subtracting(removed), "only what was removed is gone")
            let stopped = seen.last.map { removed.contains($0) } ?? false && seen.count < min(limit, before.count)
            if limit >= before.count && !stopped {
                #expect(Set(seen) == before, "a look with room sees every element")
            }
        }
    }

    /// The case that used to skip one: the look starts mid-list, goes round, and removes
    /// an element after going round (the last, already seen, moves into its place).
    @Test func goingRoundThenRemovingSkipsNoneAndRepeatsNone() {
        var list = RoundRobinList<String>()
        for name in ["a", "b", "c"] { list.append(name) }
        // Leave the cursor at "c": the first look sees "a" and "b" only.
        list.look(atMost: 2) { _ in .keep }
        var seen: [String] = []
        list.look(atMost: 3) { name in
            seen.append(name)
            return name == "a" ? .remove : .keep
        }
        #expect(seen == ["c", "a", "b"])
        #expect(Set(list.elements) == ["b", "c"])
    }
}
