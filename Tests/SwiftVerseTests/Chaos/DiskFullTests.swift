import ChatService
import Foundation
import Testing
import VerseGRPC
import VerseProtobuf

/// SQLite on a disk that fills up (a 2 MiB tmpfs): sends fail with a clear status once
/// nothing more can be written, no acknowledged message is lost, sends succeed again
/// once there is room, and a restart finds every acknowledged message once.
@Suite("chaos: a disk that fills up under SQLite", .serialized)
struct DiskFullTests {
    /// A tmpfs of `megabytes` at a fresh folder (root only); nil if it cannot be made.
    static func mountTmpfs(megabytes: Int) -> URL? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("verse-diskfull-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", folder.path]
        guard (try? mount.run()) != nil else { return nil }
        mount.waitUntilExit()
        return mount.terminationStatus == 0 ? folder : nil
    }

    static func unmount(_ folder: URL) {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = [folder.path]
        try? umount.run()
        umount.waitUntilExit()
        try? FileManager.default.removeItem(at: folder)
    }

    final class Server {
        let port = ClusterHarness.freshPort()
        private var process: Process?
        let store: URL

        init(store: URL) { self.store = store }

        func start() async throws -> GateTestClient {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chat-server")
            process.arguments = ["--embedded", "--listen", "127.0.0.1:\(port)", "--http-listen", "off", "--store", "sqlite:\(store.path)",
                                 "--log-level", "warning"]
            try process.run()
            self.process = process
            for _ in 0..<600 {
                if let client = try? await GateTestClient.connect(port: port, user: "writer", password: "000000") {
                    if (try? await client.call("ChatRoom", Chat.roomID("General"), "Join", Chat_ChatRoom_JoinRequest()) as Chat_ChatRoom_JoinResponse) != nil {
                        return client
                    }
                    await client.close()
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HarnessError("chat-server did not serve the room")
        }

        func stop() {
            process?.terminate()
            process?.waitUntilExit()
            process = nil
        }
    }

    static func send(_ client: GateTestClient, _ text: String) async -> GRPCStatus {
        var request = Chat_ChatRoom_SendChatMessageRequest()
        request.message = text
        request.messageId = String(text.prefix(24))
        do {
            let _: Chat_Client_SendChatMessageResponse = try await client.call("ChatRoom", Chat.roomID("General"), "SendMessage", request,
                                                                              timeout: .seconds(5))
            return GRPCStatus(.ok, "")
        } catch let status as GRPCStatus {
            return status
        } catch {
            return GRPCStatus(.unknown, "\(error)")
        }
    }

    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskRefusesSendsClearlyLosesNothingAndRecovers() async throws {
        let disk = try #require(Self.mountTmpfs(megabytes: 2), "cannot mount a tmpfs")
        defer { Self.unmount(disk) }
        let server = Server(store: disk.appendingPathComponent("chat.sqlite"))
        defer { server.stop() }
        var client = try await server.start()
        // Most of the disk taken by something else; what is left fills with messages.
        let filler = disk.appendingPathComponent("filler")
        try #require(FileManager.default.createFile(atPath: filler.path, contents: Data(count: 1_200_000)), "could not write the filler file")

        var acknowledged: [String] = []
        var refusals: [GRPCStatus] = []
        var index = 0
        while refusals.count < 5 && index < 2000 {
            let text = "m\(index)-" + String(repeating: "x", count: 4000)
            let status = await Self.send(client, text)
            if status.isOK { acknowledged.append(text) } else { refusals.append(status) }
            index += 1
        }
        #expect(refusals.count == 5, "the disk never filled: \(acknowledged.count) sent")
        #expect(!acknowledged.isEmpty)
        print("disk full after \(acknowledged.count) messages: \(refusals.first.map { "\($0.code): \($0.message)" } ?? "-")")
        for refusal in refusals {
            #expect([.unavailable, .resourceExhausted].contains(refusal.code), "\(refusal)")
            #expect(refusal.message.utf8.count < 300, "\(refusal.message)")
        }

        // Room again: sends succeed (the same id once more for what was refused).
        try FileManager.default.removeItem(at: filler)
        var recovered = false
        for attempt in 0..<100 where !recovered {
            let text = "after-\(attempt)"
            let status = await Self.send(client, text)
            if status.isOK {
                acknowledged.append(text)
                recovered = true
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered, "sends did not succeed again once the disk had room")

        // A restart finds every acknowledged message, once.
        await client.close()
        server.stop()
        client = try await server.start()
        let stored = try await ChaosTests.history(of: Chat.roomID("General"), after: 0, via: client).map(\.message)
        #expect(Set(acknowledged).isSubset(of: Set(stored)), "\(Set(acknowledged).subtracting(stored).count) acknowledged messages missing")
        #expect(stored.count == Set(stored).count, "stored twice: \(stored.count - Set(stored).count)")
        await client.close()
    }
}
