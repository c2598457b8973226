import Synchronization
import Testing
import VerseGateClient
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects

@Suite("gate: object catalog")
struct ObjectCatalogTests {
    /// What the nodes serve, changeable mid-test (a rolling upgrade), counting fetches.
    final class Nodes: Sendable {
        let served = Mutex<[String: Set<String>]?>(["Counter": ["Add"]])
        let fetches = Mutex(0)
        func describe() async -> [String: Set<String>]? {
            fetches.withLock { $0 += 1 }
            return served.withLock { $0 }
        }
    }

    @Test func anUpgradeAddingATypeIsFoundWithoutRestartingAndProbesDoNotHammerTheNodes() async throws {
        let nodes = Nodes()
        // The checks below take well under a millisecond each: 2 s is the interval they
        // must all fall within, and the sleep after it only has to be longer.
        let catalog = ObjectCatalog(refreshInterval: .seconds(2), fetch: nodes.describe)
        #expect(await catalog.check(type: "Counter", method: "Add") == .known)
        #expect(await catalog.check(type: "Counter", method: "Reset") == .unknownMethod)
        #expect(await catalog.check(type: "Room", method: "Join") == .unknownType)
        #expect(nodes.fetches.withLock { $0 } == 1) // unknown names inside the interval: no refetch

        nodes.served.withLock { $0 = ["Counter": ["Add", "Reset"], "Room": ["Join"]] }
        for _ in 0..<20 { _ = await catalog.check(type: "Probe", method: "X") } // still within the interval
        #expect(nodes.fetches.withLock { $0 } == 1)
        try await Task.sleep(for: .milliseconds(2100))
        #expect(await catalog.check(type: "Room", method: "Join") == .known) // refetched once
        #expect(await catalog.check(type: "Counter", method: "Reset") == .known)
        #expect(nodes.fetches.withLock { $0 } == 2)
    }

    @Test func withNoNodeToAskTheCallGoesThroughAndTheNextCallAsksAgain() async throws {
        let nodes = Nodes()
        nodes.served.withLock { $0 = nil }
        let catalog = ObjectCatalog(fetch: nodes.describe)
        #expect(await catalog.check(type: "Counter", method: "Add") == .unavailable)
        nodes.served.withLock { $0 = ["Counter": ["Add"]] }
        #expect(await catalog.check(type: "Counter", method: "Nope") == .unknownMethod)
        #expect(nodes.fetches.withLock { $0 } == 2)
    }
}
