import Synchronization
import Testing
import VerseGateClient
import VerseGRPC
import VerseProtobuf
@testable import VerseRuntime
import VerseTestObjects

@Suite("node: state hand-over")
struct HandOverBatchTests {
    static func object(_ id: String, bytes: Int) -> Verse_HandedOverObject {
        var object = Verse_HandedOverObject()
        object.type = "Counter"
        object.id = id
        var state = ProtoAny()
        state.value = [UInt8](repeating: 7, count: bytes)
        object.state = state
        return object
    }

    /// A node takes messages up to 4 MiB and one chat room's history can approach that:
    /// hand-over calls are split by size, in order, and an oversized object goes alone.
    @Test func handOverCallsAreSplitBySizeInOrder() {
        let objects = (0..<7).map { Self.object("o\($0)", bytes: 1 << 20) } + [Self.object("huge", bytes: 5 << 20), Self.object("last", bytes: 10)]
        let batches = StateHandOver.batches(objects)
        #expect(batches.map { $0.map(\.id) } == [["o0", "o1"], ["o2", "o3"], ["o4", "o5"], ["o6"], ["huge"], ["last"]])
        #expect(StateHandOver.batches([]).isEmpty)
        #expect(StateHandOver.batches([Self.object("a", bytes: 1), Self.object("b", bytes: 1)]).map(\.count) == [2])
    }
}
