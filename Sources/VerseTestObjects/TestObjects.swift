import VerseGRPC
import VerseProtobuf
import VerseRuntime

/// Object types for the runtime's tests and for `verse-testnode`.
public enum TestObjects {
    public static let all: [any VirtualObject.Type] = [Counter.self, Echo.self, Channel.self, Scratch.self]

    /// What clients of the test node may call through a gate.
    public static let policy = AccessPolicy(
        calls: ["Counter/Add", "Echo/Echo", "Channel/Subscribe", "Channel/Publish", "Channel/Announce", "Scratch/Add"],
        creatable: ["Counter", "Scratch"], deletable: ["Counter", "Scratch"])
}

/// Adds to a number; answers with the node that served it and who called.
public actor Counter: VirtualObject {
    public static let typeName = "Counter"
    public static let methods = MethodTable<Counter>()
        .method("Add") { (counter: isolated Counter, request: Verse_Test_CounterRequest, context: CallContext) in counter.add(request.delta, context) }
        // Deliberately not on the test policy's allow-list.
        .method("Reset") { (counter: isolated Counter, _: Verse_Test_CounterRequest, context: CallContext) in
            counter.add(-counter.value, context)
        }

    private var value: Int64 = 0
    private let runtime: ObjectRuntime
    private let node: String

    /// Counter runs on an event loop; the other test types use the default executor,
    /// so the tests cover both.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { runtime.executor }

    public init(id: String, runtime: ObjectRuntime) {
        self.runtime = runtime
        self.node = runtime.nodeAddress
    }

    /// The count moves with the object when its shard moves (state: a CounterResponse's value).
    public func handOff() async -> ProtoAny? {
        var state = Verse_Test_CounterResponse()
        state.value = value
        return ProtoAny(packing: state)
    }

    public func restore(from state: ProtoAny) async throws {
        value = try state.unpack(Verse_Test_CounterResponse.self).value
    }

    func add(_ delta: Int64, _ context: CallContext) -> Verse_Test_CounterResponse {
        value += delta
        var response = Verse_Test_CounterResponse()
        response.value = value
        response.node = node
        response.callerUser = context.user ?? ""
        response.callerClient = context.clientID ?? ""
        return response
    }
}

/// Echoes text, or fails with a chosen status; only ids starting with `ok-` exist.
public actor Echo: VirtualObject {
    public static let typeName = "Echo"
    public static let methods = MethodTable<Echo>()
        .method("Echo") { (echo: isolated Echo, request: Verse_Test_EchoRequest, _: CallContext) in try echo.echo(request) }

    public static func allowsActivation(of id: String) -> Bool { id.hasPrefix("ok-") }

    private let node: String

    public init(id: String, runtime: ObjectRuntime) {
        self.node = runtime.nodeAddress
    }

    func echo(_ request: Verse_Test_EchoRequest) throws -> Verse_Test_EchoResponse {
        if request.failWithCode != 0 {
            throw VerseError(VerseError.Code(rawValue: Int(request.failWithCode)) ?? .unknown, "failing as asked: \(request.text)")
        }
        var response = Verse_Test_EchoResponse()
        response.text = request.text
        response.node = node
        return response
    }
}

/// A publish/subscribe channel: pushes notes to every subscribed client, in order.
public actor Channel: VirtualObject {
    public static let typeName = "Channel"
    public static let methods = MethodTable<Channel>()
        .method("Subscribe") { (channel: isolated Channel, _: Verse_Test_SubscribeRequest, context: CallContext) in try channel.subscribe(context) }
        .method("Publish") { (channel: isolated Channel, request: Verse_Test_PublishRequest, _: CallContext) in channel.publish(request) }
        // To every client of every gate, subscribed or not.
        .method("Announce") { (channel: isolated Channel, request: Verse_Test_PublishRequest, _: CallContext) in
            var note = Verse_Test_Note()
            note.text = request.text
            note.fromNode = channel.runtime.nodeAddress
            channel.runtime.broadcast(note)
            return Verse_Test_PublishResponse()
        }
    public static var idleTimeout: Duration? { nil }

    private var subscribers: [String] = []
    private let runtime: ObjectRuntime

    public init(id: String, runtime: ObjectRuntime) {
        self.runtime = runtime
    }

    func subscribe(_ context: CallContext) throws -> Verse_Test_SubscribeResponse {
        guard let client = context.clientID else { throw VerseError(.failedPrecondition, "only clients subscribe") }
        if !subscribers.contains(client) {
            subscribers.append(client)
            runtime.watchClient(client)
        }
        var response = Verse_Test_SubscribeResponse()
        response.subscribers = Int32(subscribers.count)
        return response
    }

    func publish(_ request: Verse_Test_PublishRequest) -> Verse_Test_PublishResponse {
        for sequence in 0..<max(1, request.count) {
            var note = Verse_Test_Note()
            note.text = request.text
            note.sequence = sequence
            note.fromNode = runtime.nodeAddress
            runtime.push(note, to: subscribers)
        }
        var response = Verse_Test_PublishResponse()
        response.deliveredTo = Int32(subscribers.count)
        return response
    }

    public func onClientGone(_ clientID: String) async {
        subscribers.removeAll { $0 == clientID }
    }
}

/// Like Counter, but collected after one idle second (idle-collection tests).
public actor Scratch: VirtualObject {
    public static let typeName = "Scratch"
    public static let methods = MethodTable<Scratch>()
        .method("Add") { (scratch: isolated Scratch, request: Verse_Test_CounterRequest, _: CallContext) in scratch.add(request.delta) }
    public static var idleTimeout: Duration? { .seconds(1) }

    private var value: Int64 = 0

    public init(id: String, runtime: ObjectRuntime) {}

    func add(_ delta: Int64) -> Verse_Test_CounterResponse {
        value += delta
        var response = Verse_Test_CounterResponse()
        response.value = value
        return response
    }
}
