import NIOConcurrencyHelpers

/// The object types and methods the nodes serve, as a gate knows them: fetched from a
/// node on first use, and fetched again when a call names a type or method the copy
/// lacks, so a type added by a rolling upgrade is found without restarting the gate.
/// Refetches are at most one per `refreshInterval`: a client probing unknown names
/// cannot make the gate ask the nodes on every call.
final class ObjectCatalog: Sendable {
    enum Verdict: Equatable {
        case known
        case unknownType
        case unknownMethod
        /// No node could be asked yet: let the node that gets the call answer.
        case unavailable
    }

    private struct Copy {
        var methods: [String: Set<String>]
        var fetchedAt: ContinuousClock.Instant
    }

    private let copy = NIOLockedValueBox<Copy?>(nil)
    private let refreshInterval: Duration
    private let fetch: @Sendable () async -> [String: Set<String>]?

    init(refreshInterval: Duration = .seconds(5), fetch: @escaping @Sendable () async -> [String: Set<String>]?) {
        self.refreshInterval = refreshInterval
        self.fetch = fetch
    }

    func check(type: String, method: String) async -> Verdict {
        let now = ContinuousClock.now
        var (current, refetch) = copy.withLockedValue { copy -> (Copy?, Bool) in
            guard var held = copy else { return (nil, true) }
            guard Self.verdict(held.methods, type, method) != .known, now - held.fetchedAt >= refreshInterval else {
                return (held, false)
            }
            held.fetchedAt = now // this call refetches; calls meanwhile use the copy held
            copy = held
            return (held, true)
        }
        if refetch, let fetched = await fetch() {
            let fresh = Copy(methods: fetched, fetchedAt: now)
            copy.withLockedValue { $0 = fresh }
            current = fresh
        }
        guard let current else { return .unavailable }
        return Self.verdict(current.methods, type, method)
    }

    private static func verdict(_ methods: [String: Set<String>], _ type: String, _ method: String) -> Verdict {
        guard let served = methods[type] else { return .unknownType }
        return served.contains(method) ? .known : .unknownMethod
    }
}
