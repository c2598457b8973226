import NIOCore
import Testing
import VerseGateClient
import VerseGRPC
@testable import VerseRuntime
import VerseTestObjects

/// Failed logins slow down per name and per address, and nobody else.
@Suite("hardening: login throttle")
struct LoginThrottleTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func refused(_ throttle: LoginThrottle, user: String?, address: String? = nil, at now: NIODeadline) -> Bool {
        (try? throttle.check(user: user, address: address, now: now)) == nil
    }

    @Test func aNameWaitsLongerAfterEachFailureBeyondTheFreeOnes() {
        let throttle = LoginThrottle()
        var now = Self.start
        for _ in 0..<3 { throttle.failed(user: "alice", address: nil, now: now) } // typos: free
        #expect(!Self.refused(throttle, user: "alice", at: now))
        var waits: [Int64] = []
        for _ in 0..<6 {
            throttle.failed(user: "alice", address: nil, now: now)
            var wait: Int64 = 0
            while Self.refused(throttle, user: "alice", at: now + .seconds(wait)) { wait += 1 }
            waits.append(wait)
            now = now + .seconds(wait)
        }
        #expect(waits == [1, 2, 4, 8, 16, 32])
        #expect(!Self.refused(throttle, user: "bob", at: now), "another name is not slowed")
    }

    @Test func twentyFailuresLockANameOutAndASuccessClearsIt() {
        let throttle = LoginThrottle()
        for failure in 0..<20 { throttle.failed(user: "alice", address: nil, now: Self.start + .seconds(Int64(failure) * 61)) }
        let last = Self.start + .seconds(19 * 61)
        #expect(Self.refused(throttle, user: "alice", at: last + .minutes(14)))
        #expect(!Self.refused(throttle, user: "alice", at: last + .minutes(15) + .seconds(1)))
        throttle.failed(user: "carol", address: nil, now: Self.start)
        throttle.succeeded(user: "carol", address: nil)
        for _ in 0..<3 { throttle.failed(user: "carol", address: nil, now: Self.start) }
        #expect(!Self.refused(throttle, user: "carol", at: Self.start), "the success started the count again")
    }

    @Test func anAddressSprayingNamesIsSlowedWithoutSlowingTheNames() {
        let throttle = LoginThrottle()
        for index in 0..<11 { throttle.failed(user: "user\(index)", address: "10.0.0.9", now: Self.start) }
        #expect(Self.refused(throttle, user: "fresh", address: "10.0.0.9", at: Self.start))
        #expect(!Self.refused(throttle, user: "fresh", address: "10.0.0.10", at: Self.start), "another address is not slowed")
    }

    @Test func strangersCannotGrowTheTablesWithoutBound() {
        var policy = LoginThrottle.Policy()
        policy.maxRecords = 100
        let throttle = LoginThrottle(policy: policy)
        for index in 0..<10_000 { throttle.failed(user: "name\(index)", address: nil, now: Self.start + .milliseconds(Int64(index))) }
        #expect(throttle.recordCounts.users <= 100)
    }

    /// Through a real gate: a name that keeps failing is refused unchecked, even with
    /// the right password, while another name logs in at once.
    @Test func aGateRefusesAThrottledNameAndServesOthers() async throws {
        try await RuntimeEmbeddedTests.withEmbedded(authenticator: SharedPasswordAuthenticator(password: "123456")) { _, port in
            var statuses: [GRPCStatus.Code] = []
            for _ in 0..<5 {
                do {
                    _ = try await GateTestClient.connect(port: port, user: "eve", password: "000000")
                    statuses.append(.ok)
                } catch let status as GRPCStatus {
                    statuses.append(status.code)
                }
            }
            #expect(statuses == [.unauthenticated, .unauthenticated, .unauthenticated, .unauthenticated, .resourceExhausted],
                    "\(statuses)")
            await #expect(throws: GRPCStatus.self) { _ = try await GateTestClient.connect(port: port, user: "eve", password: "123456") }
            let alice = try await GateTestClient.connect(port: port, user: "alice", password: "123456")
            await alice.close()
        }
    }
}
