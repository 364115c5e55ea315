import SinkholeCore

/// Reads one UTC day of a SQLite store for the feeds, read-only and beside a running writer
/// (WAL: the reader sees the last committed batch).
///
/// Sessions with no family are left out: they reached the sinkhole's own addresses without
/// naming a seized domain or dialling a seized address (scanners, crawlers), and an ISP told
/// they are infected would chase noise. They stay in the store for the analyst.
public final class SQLiteDayReader: StoredDayReader {
    private let db: SQLiteConnection
    public let path: String

    /// - Throws: `SQLiteError` naming the file when it is missing, is not a sinkhole store, or
    ///   predates the columns the feeds read (start the sinkhole once to upgrade it).
    public init(path: String) throws {
        self.path = path
        db = try SQLiteConnection(path: path, readOnly: true)
        try db.execute("PRAGMA busy_timeout = 5000")
        let versions: [Int64]
        do {
            versions = try db.integers("SELECT version FROM schema_migrations")
        } catch {
            throw SQLiteError(code: 0, message: "not a sinkhole store (no schema_migrations table)", context: "reading \(path)")
        }
        guard versions.contains(9) else {
            throw SQLiteError(code: 0, message: "the store is at schema version \(versions.max() ?? 0); start this sinkhole once (`sinkhole run`) to upgrade it, then export again",
                              context: "reading \(path)")
        }
    }

    private static func range(_ day: UTCTime) -> (start: Int64, end: Int64) {
        let start = day.dayStart.microseconds
        return (start, start + 86_400_000_000)
    }

    public func counts(day: UTCTime) throws -> (checkIns: Int, dnsQueries: Int, infections: Int) {
        let (start, end) = Self.range(day)
        let hour = day.dayStart.seconds
        let checkIns = try db.integers("SELECT count(*) FROM checkins WHERE first_seen >= \(start) AND first_seen < \(end) AND family != ''").first ?? 0
        let dns = try db.integers("SELECT count(*) FROM dns_queries WHERE hour >= \(hour) AND hour < \(hour + 86_400) AND family != ''").first ?? 0
        let infections = try db.integers("SELECT count(*) FROM infections WHERE day = '\(day.dayString)'").first ?? 0
        return (Int(checkIns), Int(dns), Int(infections))
    }

    public func forEachCheckIn(day: UTCTime, _ body: (StoredCheckIn) throws -> Void) throws {
        let (start, end) = Self.range(day)
        let statement = try db.prepare("""
            SELECT node, event_id, first_seen, last_seen, count, transport, service, family, src_ip, src_port,
                   dst_ip, dst_port, name, http_method, http_path, http_version, http_user_agent, http_referer,
                   http_forwarded_for, tls_sni, CASE WHEN tls_cipher != '' THEN tls_cipher ELSE tls_offered_cipher END,
                   CASE WHEN tls_version != '' THEN tls_version ELSE tls_offered_version END, tcp_flags
            FROM checkins WHERE first_seen >= ?1 AND first_seen < ?2 AND family != ''
            ORDER BY first_seen, node, event_id
            """)
        statement.bind(1, start)
        statement.bind(2, end)
        try each(statement) { s in
            StoredCheckIn(
                node: s.text(0), eventID: s.text(1),
                firstSeen: UTCTime(microseconds: s.int64(2)), lastSeen: UTCTime(microseconds: s.int64(3)),
                count: Int(s.int64(4)), transport: s.text(5), service: s.text(6), family: s.text(7),
                source: try address(s.text(8)), sourcePort: Int(s.int64(9)),
                destination: try address(s.text(10)), destinationPort: Int(s.int64(11)),
                name: s.bytes(12), httpMethod: s.bytes(13), httpPath: s.bytes(14), httpVersion: s.text(15),
                httpUserAgent: s.bytes(16), httpReferer: s.bytes(17), httpForwardedFor: s.bytes(18),
                tlsServerName: s.bytes(19), tlsCipher: s.text(20), tlsVersion: s.text(21), tcpFlags: Int(s.int64(22)))
        } body: { try body($0) }
    }

    public func forEachDNSQuery(day: UTCTime, _ body: (StoredDNSQuery) throws -> Void) throws {
        let hour = day.dayStart.seconds
        let statement = try db.prepare("""
            SELECT hour, src_ip, last_src_port, qname, qtype, count, first_seen, last_seen, family
            FROM dns_queries WHERE hour >= ?1 AND hour < ?2 AND family != ''
            ORDER BY hour, src_ip, qname, qname_truncated, qtype
            """)
        statement.bind(1, hour)
        statement.bind(2, hour + 86_400)
        try each(statement) { s in
            StoredDNSQuery(
                hour: UTCTime(seconds: s.int64(0)), source: try address(s.text(1)), lastSourcePort: Int(s.int64(2)),
                qname: s.bytes(3), qtype: Int(s.int64(4)), count: Int(s.int64(5)),
                firstSeen: UTCTime(microseconds: s.int64(6)), lastSeen: UTCTime(microseconds: s.int64(7)),
                family: s.text(8))
        } body: { try body($0) }
    }

    public func forEachInfection(day: UTCTime, _ body: (StoredInfection) throws -> Void) throws {
        let statement = try db.prepare("""
            SELECT day, src_ip, family, first_seen, last_seen, count, last_src_port
            FROM infections WHERE day = ?1 ORDER BY src_ip, family
            """)
        statement.bind(1, day.dayString)
        try each(statement) { s in
            StoredInfection(
                day: s.text(0), source: try address(s.text(1)), family: s.text(2),
                firstSeen: UTCTime(microseconds: s.int64(3)), lastSeen: UTCTime(microseconds: s.int64(4)),
                count: Int(s.int64(5)), lastSourcePort: Int(s.int64(6)))
        } body: { try body($0) }
    }

    /// Steps `statement` to its end; on any error it is reset, so it holds no read on the file.
    private func each<Row>(_ statement: SQLiteStatement, _ make: (SQLiteStatement) throws -> Row,
                           body: (Row) throws -> Void) throws {
        do {
            while try statement.step() { try body(try make(statement)) }
        } catch {
            statement.reset()
            throw error
        }
    }

    private func address(_ text: String) throws -> IPAddress {
        guard let address = IPAddress(text) else {
            throw SQLiteError(code: 0, message: "a stored address is not an IP address: \(text.debugDescription)", context: "reading \(path)")
        }
        return address
    }
}
