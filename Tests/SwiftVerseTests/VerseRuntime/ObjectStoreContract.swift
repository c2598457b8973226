import Testing
import VerseRuntime

/// What every `ObjectStore` must do, checked against each real backend (SQLite and
/// PostgreSQL suites call these with a fresh store).
enum ObjectStoreContract {
    static let room = ObjectKey(type: "ChatRoom", id: "ChatRoom-General")

    static func everyActivationTakesANewEpochAndSeesWhatWasWritten(_ store: any ObjectStore) async throws {
        let first = try await store.activate(room)
        #expect(first == StoredObject(epoch: 1))
        #expect(try await store.write(room, epoch: 1, entries: [[1], [2]], snapshot: nil) == 2)
        #expect(try await store.write(room, epoch: 1, entries: [[3]], snapshot: nil) == 3)
        let second = try await store.activate(room)
        #expect(second.epoch == 2)
        #expect(second.entries == [JournalEntry(number: 1, bytes: [1]), JournalEntry(number: 2, bytes: [2]),
                                   JournalEntry(number: 3, bytes: [3])])
        // Another object is separate.
        #expect(try await store.activate(ObjectKey(type: "ChatRoom", id: "ChatRoom-Crypto")) == StoredObject(epoch: 1))
    }

    static func aWriteFromAnEarlierActivationIsRefusedAndChangesNothing(_ store: any ObjectStore) async throws {
        let old = try await store.activate(room)
        _ = try await store.write(room, epoch: old.epoch, entries: [[1]], snapshot: nil)
        let current = try await store.activate(room) // another node took the object
        await #expect(throws: StoreFenced.self) {
            _ = try await store.write(room, epoch: old.epoch, entries: [[9]], snapshot: [9])
        }
        await #expect(throws: StoreFenced.self) { // a snapshot alone too
            _ = try await store.write(room, epoch: old.epoch, entries: [], snapshot: [9])
        }
        _ = try await store.write(room, epoch: current.epoch, entries: [[2]], snapshot: nil)
        let after = try await store.activate(room)
        #expect(after.entries.map(\.bytes) == [[1], [2]])
        #expect(after.snapshot == nil)
    }

    static func aSnapshotReplacesTheEntriesBeforeItOnActivation(_ store: any ObjectStore) async throws {
        let epoch = try await store.activate(room).epoch
        _ = try await store.write(room, epoch: epoch, entries: [[1], [2]], snapshot: [7, 7])
        _ = try await store.write(room, epoch: epoch, entries: [[3]], snapshot: nil)
        let stored = try await store.activate(room)
        #expect(stored.snapshot == [7, 7])
        #expect(stored.snapshotThrough == 2)
        #expect(stored.entries == [JournalEntry(number: 3, bytes: [3])])
    }

    static func entriesAreReadInPagesWithoutTakingTheObject(_ store: any ObjectStore) async throws {
        let epoch = try await store.activate(room).epoch
        _ = try await store.write(room, epoch: epoch, entries: (1...5).map { [UInt8($0)] }, snapshot: [0])
        #expect(try await store.entries(of: room, after: 0, limit: 2).map(\.number) == [1, 2]) // a snapshot drops none
        #expect(try await store.entries(of: room, after: 3, limit: 10).map(\.bytes) == [[4], [5]])
        #expect(try await store.entries(of: ObjectKey(type: "T", id: "none"), after: 0, limit: 10).isEmpty)
        _ = try await store.write(room, epoch: epoch, entries: [[6]], snapshot: nil) // still the owner
    }

    static func all(_ makeStore: () async throws -> any ObjectStore) async throws {
        for check in [everyActivationTakesANewEpochAndSeesWhatWasWritten, aWriteFromAnEarlierActivationIsRefusedAndChangesNothing,
                      aSnapshotReplacesTheEntriesBeforeItOnActivation, entriesAreReadInPagesWithoutTakingTheObject] {
            let store = try await makeStore()
            try await check(store)
            await store.close()
        }
    }
}
