import ChatService
import Foundation
import Testing
import VerseRuntime

/// Pushes that cannot reach their gate are dropped (the node's link to it is down);
/// seq numbers make the loss visible, and the chat CLI fills the gap from `after_seq`.
@Suite("chat: a lost push costs latency, never a message", .serialized)
struct PushGapTests {
    @Test func theCLIShowsMessagesWhosePushesWereLostWhileTheNodesLinkToItsGateWasCut() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        // One node, which the gate reaches only through a relay (the node's advertised
        // address): cutting it cuts the gate's calls and the node's pushes to the gate.
        let nodePort = ClusterHarness.freshPort()
        let relay = try TCPRelay(to: nodePort)
        try cluster.startNode(port: nodePort, ["--advertise", "127.0.0.1:\(relay.port)"], executable: "chat-server")
        let gate = try cluster.startGate(DurableChatClusterTests.chatCalls)
        try await cluster.waitReady(port: gate, nodes: 1)

        let member = try cluster.startChatCLI(gate: gate, user: "member")
        defer { member.quit() }
        member.type("/join General")
        #expect(try await member.waitFor("joined General"))
        let sender = try await GateTestClient.connect(port: gate, user: "sender")
        try await DurableChatClusterTests.join(sender)
        try await DurableChatClusterTests.sendUntilAcknowledged(sender, "before", id: "before")
        #expect(try await member.waitFor("sender: before"))

        relay.cut()
        // The node takes these (sent to it directly, as a gate would); their pushes to the
        // member's gate have nowhere to go.
        for index in 1...3 {
            try await DurableChatClusterTests.sendDirectly(to: nodePort, secret: cluster.secret, "missed \(index)",
                                                           as: sender, user: "sender")
        }
        relay.restore()
        // Once the gate is linked again, the next push shows the member a jump in seq.
        var sent = ["before", "missed 1", "missed 2", "missed 3"]
        for index in 1...20 {
            try await DurableChatClusterTests.sendUntilAcknowledged(sender, "after \(index)", id: "after \(index)")
            sent.append("after \(index)")
            if try await member.waitFor("sender: after \(index)", timeout: .seconds(5)) { break }
        }
        #expect(member.chatLines == sent.map { "sender: " + $0 }, "the CLI showed:\n\(member.screen)")
        await sender.close()
    }
}

/// A chat CLI given two gates moves to the other when its gate dies, joins its room
/// again there and shows what was said meanwhile, once each.
@Suite("chat: the CLI moves to another gate", .serialized)
struct GateFailoverTests {
    @Test func theCLIMovesToTheNextGateWhenItsGateIsKilled() async throws {
        let cluster = try ClusterHarness()
        defer { cluster.stopAll() }
        try cluster.startNode(executable: "chat-server")
        let first = try cluster.startGate(DurableChatClusterTests.chatCalls)
        let second = try cluster.startGate(DurableChatClusterTests.chatCalls)
        try await cluster.waitReady(port: first, nodes: 1)
        try await cluster.waitReady(port: second, nodes: 1)

        let member = try cluster.startChatCLI(gates: [first, second], user: "member")
        defer { member.quit() }
        #expect(try await member.waitFor("connected to 127.0.0.1:\(first)"))
        member.type("/join General")
        #expect(try await member.waitFor("joined General"))
        let sender = try await GateTestClient.connect(port: second, user: "sender")
        try await DurableChatClusterTests.join(sender)
        try await DurableChatClusterTests.sendUntilAcknowledged(sender, "before", id: "before")
        #expect(try await member.waitFor("sender: before"))

        cluster.kill(gate: first)
        try await DurableChatClusterTests.sendUntilAcknowledged(sender, "meanwhile", id: "meanwhile")
        #expect(try await member.waitFor("reconnected to 127.0.0.1:\(second) as member (back in General)"), "\(member.screen)")
        try await DurableChatClusterTests.sendUntilAcknowledged(sender, "after", id: "after")
        #expect(try await member.waitFor("sender: after"))
        #expect(member.chatLines == ["sender: before", "sender: meanwhile", "sender: after"], "the CLI showed:\n\(member.screen)")
        await sender.close()
    }
}
