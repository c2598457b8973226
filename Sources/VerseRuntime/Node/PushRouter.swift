import Logging
import NIOConcurrencyHelpers
import VerseProtobuf

/// Where a node's pushes for one gate go: that gate's RegisterGate stream, or the
/// in-process gate in embedded mode.
protocol GateSink: Sendable {
    /// Delivers one envelope, in call order. False when the gate is gone. `origin`
    /// starts the fan-out clock of a gate in this process (a remote gate starts its own).
    func deliver(_ push: Verse_GatePush, origin: PushOrigin) -> Bool
}

/// Sends pushes from objects to gates: groups recipients by gate (a client id is
/// `<gate address>/<unique>`) and sends one envelope per gate.
final class PushRouter: Sendable {
    private let sinks = NIOLockedValueBox<[String: any GateSink]>([:])
    private let dropped = NIOLockedValueBox(0)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func attach(gate: String, sink: any GateSink) {
        sinks.withLockedValue { $0[gate] = sink }
    }

    func detach(gate: String) {
        sinks.withLockedValue { _ = $0.removeValue(forKey: gate) }
    }

    /// Pushes for clients whose gate is not connected (they are not retried).
    var droppedPushes: Int { dropped.withLockedValue { $0 } }

    /// The gate part of a client id. Searched on the UTF-8 bytes: this runs for every
    /// recipient of every push, and a Character search pays grapheme breaking per byte.
    static func gate(of clientID: String) -> Substring? {
        var id = clientID
        let slash = id.withUTF8 { bytes -> Int? in
            var index = bytes.count - 1
            while index >= 0 && bytes[index] != UInt8(ascii: "/") { index -= 1 }
            return index >= 0 ? index : nil
        }
        guard let slash else { return nil }
        return clientID[..<clientID.utf8.index(clientID.utf8.startIndex, offsetBy: slash)]
    }

    func push(_ message: ProtoAny, to clientIDs: [String], origin: PushOrigin) {
        // A cluster has a handful of gates and a push's recipients share them: a short
        // list scanned in order groups them without hashing every id.
        var byGate: [(gate: Substring, clients: [String])] = []
        for clientID in clientIDs {
            guard let gate = Self.gate(of: clientID) else { continue }
            if let index = byGate.firstIndex(where: { $0.gate == gate }) {
                byGate[index].clients.append(clientID)
            } else {
                var clients: [String] = []
                clients.reserveCapacity(clientIDs.count)
                clients.append(clientID)
                byGate.append((gate, clients))
            }
        }
        let sinks = self.sinks.withLockedValue { $0 }
        for (gate, clients) in byGate {
            var envelope = Verse_GatePush()
            envelope.clientIds = clients
            envelope.message = message
            if let sink = sinks[String(gate)], sink.deliver(envelope, origin: origin) { continue }
            dropped.withLockedValue { $0 += clients.count }
            logger.debug("dropped a push for \(clients.count) clients of gate \(gate): not connected")
        }
    }

    func broadcast(_ message: ProtoAny, origin: PushOrigin) {
        var envelope = Verse_GatePush()
        envelope.broadcast = true
        envelope.message = message
        for sink in sinks.withLockedValue({ Array($0.values) }) { _ = sink.deliver(envelope, origin: origin) }
    }
}
