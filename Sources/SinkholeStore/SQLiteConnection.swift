import CSQLite
import SinkholeCore

/// A failure reported by SQLite, with the call that failed and SQLite's own message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String

    public var description: String { "\(context): \(message) (SQLite error \(code))" }
}

/// SQLITE_TRANSIENT: tells SQLite to copy bound text/blobs, since our buffers do not outlive
/// the bind call. The C macro is a cast SQLite cannot export to Swift.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Process-wide SQLite settings, applied once before the first connection (SQLite ignores
/// `sqlite3_config` after initialisation).
private let sqliteConfigured: Bool = {
    _ = sinkhole_sqlite3_disable_memstatus()
    return sqlite3_initialize() == SQLITE_OK
}()

/// A thin owner of one `sqlite3*` handle, used by one thread at a time (the writer's).
final class SQLiteConnection {
    let handle: OpaquePointer
    let path: String

    /// - Parameter readOnly: open an existing file for reading only (`sinkhole stats` beside a
    ///   running writer: WAL lets it read while the writer commits).
    init(path: String, readOnly: Bool = false) throws {
        guard sqliteConfigured else {
            throw SQLiteError(code: SQLITE_ERROR, message: "SQLite failed to initialise", context: "opening \(path)")
        }
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, context: "opening \(path)")
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message, context: "executing \(sql.prefix(60))")
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)),
                              context: "preparing \(sql.prefix(60))")
        }
        return SQLiteStatement(statement: statement, connection: self)
    }

    /// Runs a query and returns the first column of every row as Int64 (for counts and pragmas).
    func integers(_ sql: String) throws -> [Int64] {
        let statement = try prepare(sql)
        var out: [Int64] = []
        while try statement.step() { out.append(statement.int64(0)) }
        return out
    }

    func error(_ rc: Int32, _ context: String) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), context: context)
    }
}

/// A prepared statement, reset and rebound for every row of a batch.
final class SQLiteStatement {
    let statement: OpaquePointer
    unowned let connection: SQLiteConnection

    init(statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(statement)
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
    }

    func bind(_ index: Int32, _ value: Int) {
        sqlite3_bind_int64(statement, index, Int64(value))
    }

    func bindNull(_ index: Int32) {
        sqlite3_bind_null(statement, index)
    }

    func bind(_ index: Int32, _ value: String) {
        sqlite3_bind_text(statement, index, value, -1, transient)
    }

    /// Binds network-supplied bytes as TEXT when they are valid UTF-8 and as a BLOB otherwise,
    /// so nothing is altered on the way in (no replacement characters in evidence).
    func bind<let n: Int>(_ index: Int32, _ value: BoundedBytes<n>) {
        value.withBytes { raw in
            guard let base = raw.baseAddress, !raw.isEmpty else {
                sqlite3_bind_text(statement, index, "", 0, transient)
                return
            }
            // ASCII (nearly every qname and family) is valid UTF-8 without building a String.
            if raw.allSatisfy({ $0 < 0x80 }) || String(validating: raw, as: UTF8.self) != nil {
                sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), Int32(raw.count), transient)
            } else {
                sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), transient)
            }
        }
    }

    /// Steps once; true while a row is available. Resets itself when done.
    @discardableResult
    func step() throws -> Bool {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            sqlite3_reset(statement)
            return false
        default:
            sqlite3_reset(statement)
            throw connection.error(rc, "running \(String(cString: sqlite3_sql(statement)).prefix(60))")
        }
    }

    /// Runs a statement that returns no rows. Bindings stay for the next row, which rebinds
    /// every parameter (clearing them cost 650 instructions per stored DNS row).
    func run() throws {
        _ = try step()
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    /// Binds a copy of `other`'s current row's `column`, type and bytes as they are.
    func bind(_ index: Int32, copyOf column: Int32, of other: SQLiteStatement) {
        sqlite3_bind_value(statement, index, sqlite3_column_value(other.statement, column))
    }

    /// Ends a statement stepped to a row, so it holds no read on the database.
    func reset() {
        sqlite3_reset(statement)
    }

    /// A column's bytes exactly as stored (TEXT or BLOB): for evidence and the exports.
    func bytes(_ column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// A column as text (a BLOB's bytes decoded as UTF-8, invalid sequences replaced: for
    /// display only, never for evidence).
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_blob(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
}
