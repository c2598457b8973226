/// Durable state for virtual objects: what an object has been told is stored survives
/// any crash, and only the object's current activation can write it.
///
/// Each object has a journal (entries appended in order, numbered from 1) and an
/// optional snapshot (its state as of some journal entry; entries up to it may be
/// dropped). Every activation takes a new owner epoch, atomically, and every write is
/// conditional on it: a node that lost the object (paused past its lease, cut off,
/// its shard moved) has every later write refused with `StoreFenced`.
public protocol ObjectStore: Sendable {
    /// Starts an activation of `key`: the next epoch, and what is stored.
    func activate(_ key: ObjectKey) async throws -> StoredObject
    /// Appends `entries` after the journal's last entry (numbering them in order) and,
    /// if `snapshot` is given, replaces the snapshot with it as of the last of them,
    /// dropping the entries it covers; in one transaction, only if `epoch` is still
    /// the object's. Returns the number of the last entry.
    func write(_ key: ObjectKey, epoch: Int64, entries: [[UInt8]], snapshot: [UInt8]?) async throws -> Int64
    /// Up to `limit` journal entries of `key` numbered above `number`, oldest first,
    /// without activating it (reading history past what the object holds; tools).
    func entries(of key: ObjectKey, after number: Int64, limit: Int) async throws -> [JournalEntry]
    /// What the store is, for logs and errors (never a password).
    var description: String { get }
    func close() async
}

/// What an activation starts from.
public struct StoredObject: Sendable, Equatable {
    /// This activation's owner epoch (the first is 1).
    public var epoch: Int64
    /// The state as of journal entry `snapshotThrough`, if one was saved.
    public var snapshot: [UInt8]?
    public var snapshotThrough: Int64
    /// The entries after the snapshot, oldest first.
    public var entries: [JournalEntry]

    public init(epoch: Int64, snapshot: [UInt8]? = nil, snapshotThrough: Int64 = 0, entries: [JournalEntry] = []) {
        self.epoch = epoch
        self.snapshot = snapshot
        self.snapshotThrough = snapshotThrough
        self.entries = entries
    }
}

public struct JournalEntry: Sendable, Equatable {
    /// From 1, in the order they were written.
    public var number: Int64
    public var bytes: [UInt8]
    public init(number: Int64, bytes: [UInt8]) {
        self.number = number
        self.bytes = bytes
    }
}

/// The object was activated again elsewhere (a newer epoch): this activation may not
/// write. Its node drops the object and the call is retried at the current owner.
public struct StoreFenced: Error, CustomStringConvertible, Sendable {
    public var key: ObjectKey
    public var epoch: Int64
    public var current: Int64
    public init(key: ObjectKey, epoch: Int64, current: Int64) {
        self.key = key
        self.epoch = epoch
        self.current = current
    }
    public var description: String { "\(key) was activated again elsewhere (epoch \(current) > \(epoch)): not written" }
}

/// The store could not be reached or could not write (unreachable, disk full,
/// unwritable file): nothing was acknowledged.
public struct StoreUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "the object store is unavailable: \(reason)" }
}
