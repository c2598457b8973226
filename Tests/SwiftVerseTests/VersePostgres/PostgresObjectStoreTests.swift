import Logging
import NIOPosix
import Testing
import VersePostgres
import VerseRuntime

@Suite("object store: PostgreSQL (a real server)", .serialized)
struct PostgresObjectStoreTests {
    static func store(_ url: String, timeout: Duration = .seconds(5)) -> PostgresObjectStore {
        // The URL is well formed here; a malformed one is its own test.
        try! PostgresObjectStore(url: url, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, operationTimeout: timeout,
                                 logger: Logger(label: "test.postgres"))
    }

    @Test func keepsTheObjectStoreContract() async throws {
        let server = try PostgresProcess()
        var databases = 0
        try await ObjectStoreContract.all {
            databases += 1
            try server.createDatabase("contract\(databases)")
            let store = Self.store(server.url(database: "contract\(databases)"))
            try await store.waitUntilReady()
            return store
        }
    }

    /// The database away at start, and again mid-run: calls fail cleanly (UNAVAILABLE),
    /// nothing half-written, and the store works again once the database is back.
    @Test func theDatabaseAwayGivesCleanFailuresAndTheStoreRecoversByItself() async throws {
        let server = try PostgresProcess()
        server.stop()
        let store = Self.store(server.url(), timeout: .seconds(1))
        let key = ObjectKey(type: "T", id: "away")
        await #expect(throws: StoreUnavailable.self) { _ = try await store.activate(key) }
        let ready = Task { try await store.waitUntilReady() } // retries with backoff meanwhile
        try server.start()
        try await ready.value
        let epoch = try await store.activate(key).epoch
        _ = try await store.write(key, epoch: epoch, entries: [[1]], snapshot: nil)
        server.stop()
        await #expect(throws: StoreUnavailable.self) {
            _ = try await store.write(key, epoch: epoch, entries: [[2]], snapshot: nil)
        }
        try server.start()
        var written = false
        for _ in 0..<100 where !written { // the pool reconnects on its own
            written = (try? await store.write(key, epoch: epoch, entries: [[3]], snapshot: nil)) != nil
            if !written { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(written)
        #expect(try await store.activate(key).entries.map(\.bytes) == [[1], [3]])
        await store.close()
    }

    @Test func aDatabaseFromANewerSchemaAndMalformedURLsAreRefused() async throws {
        let server = try PostgresProcess()
        let store = Self.store(server.url())
        try await store.waitUntilReady()
        await store.close()
        try server.sql("UPDATE swiftverse_schema SET version = 99")
        let newer = Self.store(server.url())
        await #expect { try await newer.waitUntilReady() } throws: { "\($0)".contains("schema version 99, newer than this build's") }
        await newer.close()
        for bad in ["postgres://127.0.0.1:5432/db", "postgres://u@127.0.0.1:99999/db", "postgres://u:secret@host", "mysql://u@h/db"] {
            #expect {
                _ = try PostgresObjectStore(url: bad, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "t"))
            } throws: { error in
                "\(error)".contains("is not postgres://USER[:PASSWORD]@HOST:PORT/DB") && !"\(error)".contains("secret")
            }
        }
    }
}
