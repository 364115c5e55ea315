import CSQLiteBench
import SinkholeStore

struct RawSQLiteError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// SQLITE_TRANSIENT, as the store binds (the C macro is a cast Swift cannot import).
let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The writer's anchor: the C API with nothing in between, for the upper bound of what
/// SQLite can store on this machine with the store's schema and settings.
final class RawSQLite {
    let db: OpaquePointer

    init(path: String) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
            == SQLITE_OK, let handle else { throw RawSQLiteError(message: "cannot open \(path)") }
        db = handle
    }

    deinit { sqlite3_close_v2(db) }

    func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw RawSQLiteError(message: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw RawSQLiteError(message: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
        return statement
    }

    func integer(_ sql: String) throws -> Int64 {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw RawSQLiteError(message: "no row: \(sql)") }
        return sqlite3_column_int64(statement, 0)
    }

    func step(_ statement: OpaquePointer) throws {
        guard sqlite3_step(statement) == SQLITE_DONE else {
            throw RawSQLiteError(message: String(cString: sqlite3_errmsg(db)))
        }
        sqlite3_reset(statement)
    }
}

/// Inserts the rows a writer run stores, with the store's schema (created by `SQLiteStore`
/// itself) and pragmas (WAL, synchronous=NORMAL), one prepared plain INSERT per table and one
/// transaction per 4096 events' rows — and no deduplication, no upsert, no text rendering:
/// the event ids and addresses are rendered before the clock starts.
enum RawAnchor {
    static let batch = 4096

    /// The 1:1 workload's rows: one `checkins` row per event, one `infections` row per 8.
    static func sessions(count: Int, path: String) throws -> (rows: Int, seconds: Double) {
        _ = try SQLiteStore(path: path)  // schema and migrations, then closed
        let db = try RawSQLite(path: path)
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        let events = (0..<count).map { Fixtures.uniqueSession($0, ratePerSecond: WorkloadRates.unique) }
        let eventIDs = events.map { "\($0.time.microseconds)-tcp-\($0.source)-\($0.sourcePort)-\($0.destination)-\($0.destinationPort)" }
        let sources = events.map { $0.source.description }
        let destination = events[0].destination.description
        let day = events[0].time.dayString
        let checkin = try db.prepare("""
            INSERT INTO checkins (node, event_id, first_seen, last_seen, count, transport, service, family,
                                  src_ip, src_port, dst_ip, dst_port, name, name_truncated, dns_type, dns_rcode)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
            """)
        let infection = try db.prepare("""
            INSERT INTO infections (day, src_ip, family, first_seen, last_seen, count, last_src_port)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        defer { sqlite3_finalize(checkin); sqlite3_finalize(infection) }

        let clock = ContinuousClock()
        let start = clock.now
        var rows = 0
        for first in stride(from: 0, to: count, by: batch) {
            try db.execute("BEGIN IMMEDIATE")
            for i in first..<min(first + batch, count) {
                let e = events[i]
                sqlite3_bind_text(checkin, 1, "bench", -1, transient)
                sqlite3_bind_text(checkin, 2, eventIDs[i], -1, transient)
                sqlite3_bind_int64(checkin, 3, e.time.microseconds)
                sqlite3_bind_int64(checkin, 4, e.time.microseconds)
                sqlite3_bind_int64(checkin, 5, 1)
                sqlite3_bind_text(checkin, 6, "tcp", -1, transient)
                sqlite3_bind_text(checkin, 7, "tcp", -1, transient)
                sqlite3_bind_text(checkin, 8, "rustock", -1, transient)
                sqlite3_bind_text(checkin, 9, sources[i], -1, transient)
                sqlite3_bind_int64(checkin, 10, Int64(e.sourcePort))
                sqlite3_bind_text(checkin, 11, destination, -1, transient)
                sqlite3_bind_int64(checkin, 12, Int64(e.destinationPort))
                sqlite3_bind_text(checkin, 13, "", 0, transient)
                sqlite3_bind_int64(checkin, 14, 0)
                sqlite3_bind_int64(checkin, 15, 0)
                sqlite3_bind_int64(checkin, 16, 0)
                try db.step(checkin)
                rows += 1
                if i & 7 == 0 {
                    sqlite3_bind_text(infection, 1, day, -1, transient)
                    sqlite3_bind_text(infection, 2, sources[i], -1, transient)
                    sqlite3_bind_text(infection, 3, "rustock", -1, transient)
                    sqlite3_bind_int64(infection, 4, e.time.microseconds)
                    sqlite3_bind_int64(infection, 5, e.time.microseconds)
                    sqlite3_bind_int64(infection, 6, 8)
                    sqlite3_bind_int64(infection, 7, Int64(e.sourcePort))
                    try db.step(infection)
                }
            }
            try db.execute("COMMIT")
        }
        return (rows, seconds(clock.now - start))
    }

    /// The 100:1 workload's rows: one `dns_queries` row per (source, qname, qtype), in
    /// 4096-row transactions. Repeated `repeats` times into fresh tables, best time kept,
    /// because the row count is small (a few tens of milliseconds).
    static func dnsQueries(keys: Int, path: String, repeats: Int = 3) throws -> (rows: Int, seconds: Double) {
        _ = try SQLiteStore(path: path)
        let db = try RawSQLite(path: path)
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        let events = (0..<keys).map { DNSWorkload.event(key: $0, time: Fixtures.hour, mixedCase: false) }
        let sources = events.map { $0.source.description }
        let names = events.map { $0.name.text }
        let insert = try db.prepare("""
            INSERT INTO dns_queries (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family,
                                     qname_truncated)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)
            """)
        defer { sqlite3_finalize(insert) }
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<repeats {
            try db.execute("DELETE FROM dns_queries")
            let start = clock.now
            for first in stride(from: 0, to: keys, by: batch) {
                try db.execute("BEGIN IMMEDIATE")
                for i in first..<min(first + batch, keys) {
                    let e = events[i]
                    sqlite3_bind_int64(insert, 1, e.time.hourStart.seconds)
                    sqlite3_bind_text(insert, 2, sources[i], -1, transient)
                    sqlite3_bind_text(insert, 3, names[i], -1, transient)
                    sqlite3_bind_int64(insert, 4, Int64(e.dnsType))
                    sqlite3_bind_int64(insert, 5, 100)
                    sqlite3_bind_int64(insert, 6, e.time.microseconds)
                    sqlite3_bind_int64(insert, 7, e.time.microseconds)
                    sqlite3_bind_int64(insert, 8, Int64(e.dnsRcode))
                    sqlite3_bind_text(insert, 9, "conficker", -1, transient)
                    try db.step(insert)
                }
                try db.execute("COMMIT")
            }
            best = min(best, seconds(clock.now - start))
        }
        return (keys, best)
    }
}

func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}
