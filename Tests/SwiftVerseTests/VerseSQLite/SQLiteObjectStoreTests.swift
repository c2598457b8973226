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

    /// The contract every store keeps, each check on a file of its own.
    @Test func keepsTheObjectStoreContract() async throws {
        let folder = try TemporaryFolder()
        var files = 0
        try await ObjectStoreContract.all {
            files += 1
            return try SQLiteObjectStore(path: folder.path + "/contract-\(files).sqlite")
        }
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
