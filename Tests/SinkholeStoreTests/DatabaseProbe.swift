import CSQLite

/// One SQLite value as the C API reports it, so tests can tell TEXT from BLOB.
enum SQLValue: Equatable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): "\(v)"
        case .real(let v): "\(v)"
        case .text(let v): "'\(v)'"
        case .blob(let v): "x'\(v.map { String($0, radix: 16) }.joined())'"
        }
    }
}

struct ProbeError: Error, CustomStringConvertible {
    var description: String
}

/// Opens a store's file with the SQLite C API, independently of the store's own code, and
/// reads rows back.
final class DatabaseProbe {
    private let db: OpaquePointer
    /// Keeps the directory (and so the files) alive for as long as the probe reads them.
    private let directory: TemporaryDirectory?

    convenience init(_ directory: TemporaryDirectory, file: String = "checkins.db") throws {
        try self.init(directory.path(file), keeping: directory)
    }

    init(_ path: String, keeping directory: TemporaryDirectory? = nil) throws {
        self.directory = directory
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil)
        guard rc == SQLITE_OK, let handle else {
            if let handle { sqlite3_close_v2(handle) }
            throw ProbeError(description: "cannot open \(path): \(rc)")
        }
        db = handle
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        sqlite3_close_v2(db)
    }

    /// Runs statements that return nothing (a test setting the file back to an older state).
    func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw ProbeError(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    /// Every row of `sql`, every column as an `SQLValue`.
    func rows(_ sql: String) throws -> [[SQLValue]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw ProbeError(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        defer { sqlite3_finalize(statement) }
        var out: [[SQLValue]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw ProbeError(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
            }
            var row: [SQLValue] = []
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER:
                    row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT:
                    row.append(.real(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    let bytes = sqlite3_column_text(statement, column)
                    let buffer = UnsafeBufferPointer(start: bytes, count: count)
                    row.append(.text(String(decoding: buffer, as: UTF8.self)))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    let bytes = sqlite3_column_blob(statement, column)
                    row.append(.blob(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: bytes, count: count))))
                default:
                    row.append(.null)
                }
            }
            out.append(row)
        }
        return out
    }

    /// The first column of the first row as an integer (counts, sums); nil for NULL or no row.
    func integer(_ sql: String) throws -> Int64? {
        guard case .integer(let value)? = try rows(sql).first?.first else { return nil }
        return value
    }

    /// The first column of the first row as text; nil for anything else.
    func text(_ sql: String) throws -> String? {
        guard case .text(let value)? = try rows(sql).first?.first else { return nil }
        return value
    }

    /// The first column of every row as text.
    func texts(_ sql: String) throws -> [String] {
        try rows(sql).compactMap { row in
            guard case .text(let value)? = row.first else { return nil }
            return value
        }
    }
}
