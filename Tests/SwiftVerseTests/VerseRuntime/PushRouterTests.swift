import Testing
@testable import VerseRuntime

@Suite("push router: recipients grouped by gate")
struct PushRouterTests {
    private func grouped(_ ids: [String]) -> [String] {
        PushRouter.groupByGate(ids).map { "\($0.gate): \($0.clients.joined(separator: " "))" }
    }

    @Test func oneGateKeepsTheListAsItIs() {
        let ids = ["127.0.0.1:9000/a", "127.0.0.1:9000/b", "127.0.0.1:9000/c"]
        #expect(grouped(ids) == ["127.0.0.1:9000: \(ids.joined(separator: " "))"])
        #expect(PushRouter.sharedGate(of: ids) == "127.0.0.1:9000")
    }

    @Test func severalGatesAreGroupedInTheOrderPushed() {
        let ids = ["g1:1/a", "g2:2/b", "g1:1/c", "g2:2/d", "g1:10/e"]
        #expect(PushRouter.sharedGate(of: ids) == nil)
        #expect(grouped(ids) == ["g1:1: g1:1/a g1:1/c", "g2:2: g2:2/b g2:2/d", "g1:10: g1:10/e"])
    }

    @Test func aGateThatIsAPrefixOfAnotherIsNotTheSame() {
        // "g:1" is a byte prefix of "g:12": only the whole part before the last "/" counts.
        #expect(PushRouter.sharedGate(of: ["g:1/a", "g:12/b"]) == nil)
        #expect(PushRouter.sharedGate(of: ["g:12/a", "g:1/b"]) == nil)
        #expect(grouped(["g:1/a", "g:12/b"]) == ["g:1: g:1/a", "g:12: g:12/b"])
    }

    @Test func idsWithoutAGatePartAreLeftOut() {
        #expect(PushRouter.sharedGate(of: ["g:1/a", "nogate"]) == nil)
        #expect(grouped(["g:1/a", "nogate", "g:1/b"]) == ["g:1: g:1/a g:1/b"])
        #expect(grouped(["nogate"]).isEmpty)
        #expect(grouped([]).isEmpty)
        // The last "/" separates: a unique part cannot hide a slash in the gate part.
        #expect(grouped(["a/b/c", "a/b/d"]) == ["a/b: a/b/c a/b/d"])
        // An empty gate part is a gate like any other (and compares without memory to read).
        #expect(PushRouter.sharedGate(of: ["/a", "/b"]) == "")
        #expect(grouped(["/a", "g:1/b", "/c"]) == [": /a /c", "g:1: g:1/b"])
    }
}
