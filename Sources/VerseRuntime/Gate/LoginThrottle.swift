import Logging
import NIOConcurrencyHelpers
import NIOCore
import VerseGRPC

/// Failed logins slow down, per user name and per source address. Past a few free
/// failures in a row (typos: 3 for a name; 10 for an address, which many users may
/// share), the name or address must wait before its next attempt is even checked: 1 s,
/// doubling with each failure, at most a minute; after 20 failures in a row (100 for an
/// address) it is locked out for 15 minutes. Waiting is an immediate refusal
/// (RESOURCE_EXHAUSTED), never a sleep, so nobody else is slowed; a success clears the
/// name's and the address's record. At the 6-digit default password one name takes
/// years to guess.
final class LoginThrottle: Sendable {
    struct Limits: Sendable {
        var freeFailures: Int
        var lockoutAfter: Int
    }

    struct Policy: Sendable {
        var users = Limits(freeFailures: 3, lockoutAfter: 20)
        var addresses = Limits(freeFailures: 10, lockoutAfter: 100)
        var firstDelay: TimeAmount = .seconds(1)
        var maxDelay: TimeAmount = .seconds(60)
        var lockout: TimeAmount = .minutes(15)
        /// Failures further apart than this do not add up.
        var forgetAfter: TimeAmount = .minutes(15)
        /// Records kept per kind (names, addresses): what strangers can make it hold.
        var maxRecords = 10_000
    }

    private struct Record {
        var failures = 0
        var lastFailure = NIODeadline.distantPast
        var blockedUntil = NIODeadline.distantPast
    }

    private struct Tables {
        var users: [String: Record] = [:]
        var addresses: [String: Record] = [:]
    }

    let policy: Policy
    private let tables = NIOLockedValueBox(Tables())

    init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Throws if `user` or `address` must still wait after failing.
    func check(user: String?, address: String?, now: NIODeadline = .now()) throws {
        let waits = tables.withLockedValue { tables -> (String, TimeAmount)? in
            if let user, let record = tables.users[user], record.blockedUntil > now { return ("this user", record.blockedUntil - now) }
            if let address, let record = tables.addresses[address], record.blockedUntil > now {
                return ("this address", record.blockedUntil - now)
            }
            return nil
        }
        guard let (who, wait) = waits else { return }
        RuntimeMetrics.loginsThrottled.increment()
        let seconds = max(1, (wait.nanoseconds + 999_999_999) / 1_000_000_000)
        throw VerseError(.resourceExhausted, "too many failed logins from \(who): try again in \(seconds) s")
    }

    /// Records a failed login; returns the failures in a row and whether that locked it out.
    @discardableResult
    func failed(user: String?, address: String?, now: NIODeadline = .now()) -> (failures: Int, lockedOut: Bool) {
        RuntimeMetrics.loginFailures.increment()
        let policy = self.policy
        return tables.withLockedValue { tables in
            var worst = (failures: 0, lockedOut: false)
            func fail(_ key: String?, in table: inout [String: Record], _ limits: Limits) {
                guard let key else { return }
                if table[key] == nil && table.count >= policy.maxRecords { Self.prune(&table, now: now, policy: policy) }
                var record = table[key] ?? Record()
                if now - record.lastFailure > policy.forgetAfter { record.failures = 0 }
                record.failures += 1
                record.lastFailure = now
                let lockedOut = record.failures >= limits.lockoutAfter
                let beyondFree = record.failures - limits.freeFailures
                if lockedOut {
                    record.blockedUntil = now + policy.lockout
                } else if beyondFree > 0 {
                    let doubling = TimeAmount.nanoseconds(policy.firstDelay.nanoseconds << min(beyondFree - 1, 20))
                    record.blockedUntil = now + min(doubling, policy.maxDelay)
                }
                table[key] = record
                if record.failures > worst.failures { worst = (record.failures, lockedOut) }
            }
            fail(user, in: &tables.users, policy.users)
            fail(address, in: &tables.addresses, policy.addresses)
            return worst
        }
    }

    /// Records held (for tests: the tables stay bounded).
    var recordCounts: (users: Int, addresses: Int) { tables.withLockedValue { ($0.users.count, $0.addresses.count) } }

    func succeeded(user: String?, address: String?) {
        tables.withLockedValue { tables in
            if let user { tables.users[user] = nil }
            if let address { tables.addresses[address] = nil }
        }
    }

    /// Room for a new record: drops those no longer blocking or counting, then, if the
    /// table is still full (many names or addresses failing at once), the older half.
    private static func prune(_ table: inout [String: Record], now: NIODeadline, policy: Policy) {
        table = table.filter { $0.value.blockedUntil > now || now - $0.value.lastFailure <= policy.forgetAfter }
        guard table.count >= policy.maxRecords else { return }
        let newest = table.sorted { $0.value.lastFailure > $1.value.lastFailure }.prefix(policy.maxRecords / 2)
        table = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
    }
}

extension Gate {
    /// The gate's authenticator, behind the login throttle. `address`: the caller's IP.
    func authenticate(_ metadata: Metadata, from address: String?) async throws -> Identity {
        let user = metadata["x-username"].map { $0.prefix(utf8Bytes: ClientInput.maxUserBytes) }
        try loginThrottle.check(user: user, address: address)
        do {
            let identity = try await configuration.authenticator.authenticate(metadata)
            loginThrottle.succeeded(user: user, address: address)
            return identity
        } catch let error as VerseError where error.code == .unauthenticated {
            let (failures, lockedOut) = loginThrottle.failed(user: user, address: address)
            let metadata: Logger.Metadata = ["user": "\(user.map { ClientInput.brief($0) } ?? "-")", "address": "\(address ?? "?")",
                                             "failures": "\(failures)"]
            if lockedOut {
                logger.warning("login locked out after repeated failures", metadata: metadata)
            } else {
                logger.info("login failed: \(error.message)", metadata: metadata)
            }
            throw error
        }
    }
}
