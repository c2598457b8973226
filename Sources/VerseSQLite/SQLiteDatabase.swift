import CSQLite

/// One SQLite connection and its prepared statements: the C API, confined to this
/// file. Not thread-safe: `SQLiteObjectStore` uses it from its one thread only.
final class SQLiteDatabase: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]
    let path: String

    init(path: String) throws {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        self.handle = handle
        guard code == SQLITE_OK else {
            let error = SQLiteError(code: code, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory")
            sqlite3_close_v2(handle)
            self.handle = nil
            throw error
        }
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statements.removeAll() // finalized before the connection closes
        sqlite3_close_v2(handle)
    }

    /// Runs SQL with no parameters and no rows (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard code == SQLITE_OK else {
            throw SQLiteError(code: code, message: message.map { String(cString: $0) } ?? lastMessage)
        }
    }

    /// The statement for `sql`, prepared once per connection and reset for reuse.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var prepared: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard code == SQLITE_OK, let prepared else { throw SQLiteError(code: code, message: lastMessage) }
        let statement = SQLiteStatement(prepared, database: self)
        statements[sql] = statement
        return statement
    }

    var lastMessage: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection" }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE: the write lock up front, so
    /// two writers never deadlock upgrading); rolls back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

final class SQLiteStatement {
    private let pointer: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ pointer: OpaquePointer, database: SQLiteDatabase) {
        self.pointer = pointer
        self.database = database
    }

    deinit { sqlite3_finalize(pointer) }

    func reset() {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
    }

    func bind(_ values: SQLiteValue...) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch value {
            case .integer(let number): code = sqlite3_bind_int64(pointer, index, number)
            case .text(let text):
                var text = text
                code = text.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { csqlite_bind_text_copy(pointer, index, $0.baseAddress, Int32($0.count)) }
                }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { csqlite_bind_blob_copy(pointer, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count)) }
            case .null: code = sqlite3_bind_null(pointer, index)
            }
            guard code == SQLITE_OK else { throw SQLiteError(code: code, message: database.lastMessage) }
        }
    }

    /// Advances to the next row: true if there is one, false when done.
    @discardableResult
    func step() throws -> Bool {
        switch sqlite3_step(pointer) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: throw SQLiteError(code: code, message: database.lastMessage)
        }
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(pointer, column))
        guard count > 0, let base = sqlite3_column_blob(pointer, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}

enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

struct SQLiteError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "\(message) (SQLite \(code & 0xff)\(code > 0xff ? "/\(code)" : ""))" }

    /// The store cannot write now for a reason outside the program: disk, file, lock.
    var isEnvironmental: Bool {
        switch code & 0xff {
        case SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PERM,
             SQLITE_NOMEM, SQLITE_CORRUPT, SQLITE_NOTADB: true
        default: false
        }
    }
}
