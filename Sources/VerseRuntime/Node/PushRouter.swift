#if canImport(Glibc)
import Glibc
#endif
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
        guard let slash = id.withUTF8({ gateLength(of: $0) }) else { return nil }
        return clientID[..<clientID.utf8.index(clientID.utf8.startIndex, offsetBy: slash)]
    }

    /// Where a client id's gate part ends: at its last "/". (Indexed loops here and in
    /// `sharedGate`, not lastIndex(of:) or allSatisfy: unspecialized, as in the debug build
    /// that make test-allocations counts, those allocate a coroutine frame per element.)
    private static func gateLength(of id: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = id.count - 1
        while index >= 0 && id[index] != UInt8(ascii: "/") { index -= 1 }
        return index >= 0 ? index : nil
    }

    /// The gate every one of `clientIDs` belongs to, if they share one: a push's
    /// recipients usually do (always, embedded), and then the list goes on as it is,
    /// with one byte comparison per recipient instead of a Substring and an append.
    static func sharedGate(of clientIDs: [String]) -> Substring? {
        guard let first = clientIDs.first, let gate = gate(of: first) else { return nil }
        var gateBytes = String(gate)
        let shared = gateBytes.withUTF8 { gate -> Bool in
            var index = 1
            while index < clientIDs.count {
                var id = clientIDs[index] // withUTF8 needs a var; native strings are not copied
                let same = id.withUTF8 { bytes in
                    gateLength(of: bytes) == gate.count
                        && (gate.isEmpty || memcmp(bytes.baseAddress!, gate.baseAddress!, gate.count) == 0)
                }
                if !same { return false }
                index += 1
            }
            return true
        }
        return shared ? gate : nil
    }

    func push(_ message: ProtoAny, to clientIDs: [String], origin: PushOrigin) {
        let sinks = self.sinks.withLockedValue { $0 }
        for (gate, clients) in Self.groupByGate(clientIDs) {
            var envelope = Verse_GatePush()
            envelope.clientIds = clients
            envelope.message = message
            if let sink = sinks[String(gate)], sink.deliver(envelope, origin: origin) { continue }
            dropped.withLockedValue { $0 += clients.count }
            logger.debug("dropped a push for \(clients.count) clients of gate \(gate): not connected")
        }
    }

    /// Recipients grouped by gate, in the order pushed (ids without a gate part are left out).
    static func groupByGate(_ clientIDs: [String]) -> [(gate: Substring, clients: [String])] {
        if let gate = sharedGate(of: clientIDs) { return [(gate, clientIDs)] }
        // A cluster has a handful of gates: a short list scanned in order groups them
        // without hashing every id.
        var byGate: [(gate: Substring, clients: [String])] = []
        for clientID in clientIDs {
            guard let gate = gate(of: clientID) else { continue }
            if let index = byGate.firstIndex(where: { $0.gate == gate }) {
                byGate[index].clients.append(clientID)
            } else {
                var clients: [String] = []
                clients.reserveCapacity(clientIDs.count)
                clients.append(clientID)
                byGate.append((gate, clients))
            }
        }
        return byGate
    }

    func broadcast(_ message: ProtoAny, origin: PushOrigin) {
        var envelope = Verse_GatePush()
        envelope.broadcast = true
        envelope.message = message
        for sink in sinks.withLockedValue({ Array($0.values) }) { _ = sink.deliver(envelope, origin: origin) }
    }
}
