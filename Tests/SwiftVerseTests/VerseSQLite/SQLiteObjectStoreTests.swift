import Foundation
import Testing
import VerseRuntime
@testable import VerseSQLite

/// A fresh folder for one test's database files, removed afterwards.
struct TemporaryFolder: ~Copyable {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "swiftverse-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("object store: SQLite")
struct SQLiteObjectStoreTests {
    static let room = ObjectKey(type: "ChatRoom", id: "ChatRoom-General")

    @Test func everyActivationTakesANewEpochAndSeesWhatWasWritten() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteObjectStore(path: folder.path + "/a.sqlite")
        let first = try await store.activate(Self.room)
        #expect(first == StoredObject(epoch: 1))
        #expect(try await store.write(Self.room, epoch: 1, entries: [[1], [2]], snapshot: nil) == 2)
        #expect(try await store.write(Self.room, epoch: 1, entries: [[3]], snapshot: nil) == 3)
        let second = try await store.activate(Self.room)
        #expect(second.epoch == 2)
        #expect(second.entries == [JournalEntry(number: 1, bytes: [1]), JournalEntry(number: 2, bytes: [2]),
                                   JournalEntry(number: 3, bytes: [3])])
        // Another object is separate.
        #expect(try await store.activate(ObjectKey(type: "ChatRoom", id: "ChatRoom-Crypto")) == StoredObject(epoch: 1))
        await store.close()
    }

    @Test func aWriteFromAnEarlierActivationIsRefusedAndChangesNothing() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteObjectStore(path: folder.path + "/a.sqlite")
        let old = try await store.activate(Self.room)
        _ = try await store.write(Self.room, epoch: old.epoch, entries: [[1]], snapshot: nil)
        let current = try await store.activate(Self.room) // another node took the object
        await #expect(throws: StoreFenced.self) {
            _ = try await store.write(Self.room, epoch: old.epoch, entries: [[9]], snapshot: [9])
        }
        _ = try await store.write(Self.room, epoch: current.epoch, entries: [[2]], snapshot: nil)
        let after = try await store.activate(Self.room)
        #expect(after.entries.map(\.bytes) == [[1], [2]])
        #expect(after.snapshot == nil)
        await store.close()
    }

    @Test func aSnapshotReplacesTheEntriesBeforeItOnActivation() async throws {
        let folder = try TemporaryFolder()
        let store = try SQLiteObjectStore(path: folder.path + "/a.sqlite")
        let epoch = try await store.activate(Self.room).epoch
        _ = try await store.write(Self.room, epoch: epoch, entries: [[1], [2]], snapshot: [7, 7])
        _ = try await store.write(Self.room, epoch: epoch, entries: [[3]], snapshot: nil)
        let stored = try await store.activate(Self.room)
        #expect(stored.snapshot == [7, 7])
        #expect(stored.snapshotThrough == 2)
        #expect(stored.entries == [JournalEntry(number: 3, bytes: [3])])
        await store.close()
    }

    @Test func whatWasWrittenSurvivesReopeningTheFile() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/a.sqlite"
        do {
            let store = try SQLiteObjectStore(path: path)
            let epoch = try await store.activate(Self.room).epoch
            _ = try await store.write(Self.room, epoch: epoch, entries: [[1, 2, 3]], snapshot: nil)
            await store.close()
        }
        let reopened = try SQLiteObjectStore(path: path)
        let stored = try await reopened.activate(Self.room)
        #expect(stored.epoch == 2)
        #expect(stored.entries.map(\.bytes) == [[1, 2, 3]])
        await reopened.close()
    }

    @Test func aFileFromANewerSchemaOrAnUnwritablePlaceIsRefusedWithTheReason() async throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/a.sqlite"
        let created = try SQLiteObjectStore(path: path)
        await created.close()
        do {
            let database = try SQLiteDatabase(path: path)
            try database.execute("UPDATE swiftverse_schema SET version = 99")
        }
        #expect {
            _ = try SQLiteObjectStore(path: path)
        } throws: { error in
            "\(error)".contains("schema version 99, newer than this build's")
        }
        #expect {
            _ = try SQLiteObjectStore(path: folder.path + "/missing/folder/a.sqlite")
        } throws: { error in
            error is StoreUnavailable && "\(error)".contains("missing/folder")
        }
    }
}
