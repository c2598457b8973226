import ChatService
import Foundation
import NIOConcurrencyHelpers
import VerseGRPC
import VerseProtobuf

/// One chat user of the fault-injection suite: sends numbered messages to its own room,
/// each until it is acknowledged (the same message id on every retry, so a send stored
/// but not answered is stored once), moving to the next gate after a transport failure
/// and joining its room again where needed. It records what was acknowledged and when
/// sends failed, for the suite to check against the room's stored history.
final class ChaosWriter: @unchecked Sendable {
    // @unchecked: `run` mutates the state from one task; the suite reads it after `stop`.
    let name: String
    let room: String
    private let gates: [(host: String, port: Int)]
    private var gateIndex = 0
    private var client: GateTestClient?
    private let stopping = NIOLockedValueBox(false)

    /// Texts acknowledged, in order.
    private(set) var acknowledged: [String] = []
    /// Sends that failed (each retry counts).
    private(set) var errors = 0
    /// Spans during which this writer's sends were failing: from the first failure to the
    /// acknowledgement that ended the run of them.
    private(set) var failing: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant)] = []
    private(set) var lastAcknowledged = ContinuousClock.now
    /// Each acknowledged send: its first attempt and its acknowledgement (a gate that holds
    /// a call while the room moves shows here as a slow send, not as an error).
    private(set) var sends: [(started: ContinuousClock.Instant, acknowledged: ContinuousClock.Instant)] = []

    init(name: String, room: String, gates: [(host: String, port: Int)]) {
        self.name = name
        self.room = room
        self.gates = gates
    }

    func stop() { stopping.withLockedValue { $0 = true } }
    private var isStopping: Bool { stopping.withLockedValue { $0 } }

    func run() async {
        var index = 0
        while !isStopping {
            let text = "\(name)-\(index)"
            var request = Chat_ChatRoom_SendChatMessageRequest()
            request.message = text
            request.messageId = text
            var failingSince: ContinuousClock.Instant?
            let started = ContinuousClock.now
            while !isStopping {
                do {
                    let client = try await connected()
                    let _: Chat_Client_SendChatMessageResponse = try await client.call("ChatRoom", room, "SendMessage", request,
                                                                                      timeout: .seconds(3))
                    acknowledged.append(text)
                    lastAcknowledged = .now
                    sends.append((started, lastAcknowledged))
                    if let since = failingSince { failing.append((since, lastAcknowledged)) }
                    break
                } catch {
                    errors += 1
                    failingSince = failingSince ?? .now
                    await recover(from: error)
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            index += 1
        }
        await client?.close()
    }

    /// The current registration, made (and the room joined) if there is none.
    private func connected() async throws -> GateTestClient {
        if let client { return client }
        let made = try await GateTestClient.connect(host: gates[gateIndex].host, port: gates[gateIndex].port, user: name)
        do {
            let _: Chat_ChatRoom_JoinResponse = try await made.call("ChatRoom", room, "Join", Chat_ChatRoom_JoinRequest(), timeout: .seconds(3))
        } catch {
            await made.close()
            throw error
        }
        client = made
        return made
    }

    /// After a failed send: a transport failure drops the registration and moves to the
    /// next gate; a room that forgot its member (FAILED_PRECONDITION) is joined again.
    private func recover(from error: Error) async {
        let status = error as? GRPCStatus
        switch status?.code {
        case .failedPrecondition?, .notFound?:
            if let client { _ = try? await client.call("ChatRoom", room, "Join", Chat_ChatRoom_JoinRequest(), timeout: .seconds(3)) as Chat_ChatRoom_JoinResponse }
        case .aborted?, .resourceExhausted?:
            break // retried as it is
        default: // unavailable, deadline, cancelled, a lost connection...
            await client?.close()
            client = nil
            gateIndex = (gateIndex + 1) % gates.count
        }
    }
}
