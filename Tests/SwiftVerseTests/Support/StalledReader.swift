import VerseGateClient
import VerseGRPC
import VerseProtobuf

/// A client that registers and subscribes to the "firehose" Channel but never reads its
/// push stream, beside a reader that does: the slow-consumer setup.
struct StalledReader {
    let reader: GateTestClient
    let staller: GateClient

    static func subscribe(port: Int) async throws -> StalledReader {
        let reader = try await GateTestClient.connect(port: port, user: "reader")
        let staller = try await GateClient.register(try GRPCClient(host: "127.0.0.1", port: port))
        let _: Verse_Test_SubscribeResponse = try await staller.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
        let _: Verse_Test_SubscribeResponse = try await reader.call("Channel", "firehose", "Subscribe", Verse_Test_SubscribeRequest())
        return StalledReader(reader: reader, staller: staller)
    }

    /// Publishes 192 pushes of 16 KiB (3 MiB: past the staller's 1 MiB receive window)
    /// and returns what the reader received of them.
    func publish3MiB() async throws -> [Verse_Test_Note] {
        var publish = Verse_Test_PublishRequest()
        publish.text = String(repeating: "z", count: 16 << 10)
        publish.count = 192
        let _: Verse_Test_PublishResponse = try await reader.call("Channel", "firehose", "Publish", publish)
        return try await reader.nextPushes(192, as: Verse_Test_Note.self, timeout: .seconds(20))
    }

    func close() async {
        await reader.close()
        staller.close()
        await staller.grpc.close()
    }
}
