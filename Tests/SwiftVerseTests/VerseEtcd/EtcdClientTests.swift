import Foundation
import Testing
import VerseEtcd
import VerseGRPC

/// SwiftVerse's etcd client against a real etcd.
@Suite("etcd client", .serialized)
struct EtcdClientTests {
    /// An etcd serving TLS: reached with its CA, verified; a cleartext client fails.
    @Test func anEtcdServingTLSIsReachedOverTLS() async throws {
        let certs = try TestCertificates(in: FileManager.default.temporaryDirectory
            .appendingPathComponent("verse-etcd-certs-\(UUID().uuidString.prefix(8))"))
        defer { try? FileManager.default.removeItem(at: certs.directory) }
        let etcd = try EtcdProcess(tls: (certs.certificate, certs.key))
        let secure = try EtcdClient(endpoint: etcd.endpoint, tls: .client(trustRootsFile: certs.ca))
        try await secure.put("/tls/a", [1])
        #expect(try await secure.get("/tls/a")?.value == [1])
        let plain = try EtcdClient(endpoint: etcd.endpoint, requestTimeout: .seconds(2))
        await #expect(throws: (any Error).self) { _ = try await plain.get("/tls/a") }
        await secure.close()
        await plain.close()
    }

    @Test func putGetListDeleteAndCompareAndSwap() async throws {
        let etcd = try EtcdProcess()
        let client = try EtcdClient(endpoint: etcd.endpoint)
        let revision = try await client.put("/t/a", [1, 2, 3])
        #expect(revision > 0)
        try await client.put("/t/b", Array("bee".utf8))
        try await client.put("/u/c", [9])
        let a = try #require(try await client.get("/t/a"))
        #expect(a.value == [1, 2, 3])
        #expect(try await client.get("/t/none") == nil)
        let listed = try await client.list(prefix: "/t/")
        #expect(listed.kvs.map { String(decoding: $0.key, as: UTF8.self) } == ["/t/a", "/t/b"])
        #expect(listed.revision >= revision)

        // CAS: succeeds against the current mod revision, fails against a stale one.
        #expect(try await client.put("/t/a", [4], ifModRevision: a.modRevision))
        #expect(try await !client.put("/t/a", [5], ifModRevision: a.modRevision))
        #expect(try await client.get("/t/a")?.value == [4])
        // 0 means "only if absent".
        #expect(try await !client.put("/t/a", [6], ifModRevision: 0))
        #expect(try await client.put("/t/new", [7], ifModRevision: 0))

        #expect(try await client.delete("/t/", prefix: true) == 3)
        #expect(try await client.list(prefix: "/t/").kvs.isEmpty)
        await client.close()
    }

    @Test func keysOnALeaseVanishWhenItIsRevoked() async throws {
        let etcd = try EtcdProcess()
        let client = try EtcdClient(endpoint: etcd.endpoint)
        let lease = try await client.grantLease(ttl: 5)
        try await client.put("/m/node", [1], lease: lease.id)
        #expect(try await client.get("/m/node")?.lease == lease.id)
        try await client.revokeLease(lease.id)
        #expect(try await client.get("/m/node") == nil)
        await client.close()
    }

    @Test func keepAliveHoldsALeasePastItsTTLAndStopsWhenItIsGone() async throws {
        let etcd = try EtcdProcess()
        let client = try EtcdClient(endpoint: etcd.endpoint)
        let lease = try await client.grantLease(ttl: 1)
        try await client.put("/k/alive", [1], lease: lease.id)
        // Every 100 ms against a 1 s TTL: a keep-alive may be late by 9 of them.
        let keeper = Task { try await client.keepAlive(lease: lease.id, every: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(2.5))
        #expect(try await client.get("/k/alive") != nil, "the lease expired although it was kept alive")
        try await client.revokeLease(lease.id)
        try await keeper.value // returns once etcd reports the lease gone
        await client.close()
    }

    @Test func watchSeesPutsAndDeletesInOrder() async throws {
        let etcd = try EtcdProcess()
        let client = try EtcdClient(endpoint: etcd.endpoint)
        let start = try await client.list(prefix: "/w/").revision
        let events = client.watch(prefix: "/w/", fromRevision: start + 1)
        try await client.put("/w/1", [1])
        try await client.put("/x/ignored", [0])
        try await client.put("/w/2", [2])
        try await client.delete("/w/1")
        var seen: [String] = []
        for try await batch in events {
            for event in batch {
                seen.append("\(event.type == .put ? "put" : "delete") \(String(decoding: event.kv?.key ?? [], as: UTF8.self))")
            }
            if seen.count >= 3 { break }
        }
        #expect(seen == ["put /w/1", "put /w/2", "delete /w/1"])
        await client.close()
    }
}
