import CSQLite
import SinkholeCore

/// Reads `StoreStats` from a SQLite store, read-only and beside a running writer (WAL lets a
/// reader see the last committed batch while the writer goes on).
///
/// Every section but the DNS names reads a summary the writer keeps (migration 8), so the cost
/// follows the number of days, hours, services, families, C&C names and resolvers in the
/// range, not the number of check-ins. The DNS names come from `dns_queries` itself (a DGA
/// family's thousands of names an hour would make a summary as big as the table, and keeping
/// it would double the writer's cost per DNS query), so that section covers at most the last
/// 24 hours of the range: the table's key starts with the hour, so that is one range of it.
public enum SQLiteStats {
    /// - Parameters:
    ///   - limit: rows in each "top" section.
    /// - Throws: `SQLiteError` naming the file when it is missing, is not a sinkhole store, or
    ///   was written by an older sinkhole that has not upgraded it yet.
    public static func read(path: String, since: UTCTime, family: String?, limit: Int = 10,
                            now: UTCTime = .now()) throws -> StoreStats {
        let db = try SQLiteConnection(path: path, readOnly: true)
        // Beside a running writer: wait out its checkpoint or close instead of failing "locked".
        try db.execute("PRAGMA busy_timeout = 5000")
        let version: Int64
        do {
            version = try db.integers("SELECT coalesce(max(version), 0) FROM schema_migrations").first ?? 0
        } catch {
            throw SQLiteError(code: 0, message: "not a sinkhole store (no schema_migrations table)", context: "reading \(path)")
        }
        guard version >= 8 else {
            throw SQLiteError(code: 0, message: "the store is at schema version \(version); start this sinkhole once (`sinkhole run`) to upgrade it, then ask again",
                              context: "reading \(path)")
        }
        var stats = StoreStats(since: since, family: family)
        stats.topQueryNamesSince = max(since, UTCTime(microseconds: now.microseconds - 86_400_000_000))
        let hour = since.hourStart.seconds
        let day = since.dayString

        func rows(_ sql: String, bind: (SQLiteStatement) -> Void, _ read: (SQLiteStatement) -> Void) throws {
            let statement = try db.prepare(sql)
            bind(statement)
            while try statement.step() { read(statement) }
        }
        func bindFamily(_ s: SQLiteStatement, at index: Int32) {
            if let family { s.bind(index, family) } else { s.bindNull(index) }
        }

        try rows("""
            SELECT day, family, sum(addresses) FROM infection_days
            WHERE day >= ?1 AND (?2 IS NULL OR family = ?2) GROUP BY day, family ORDER BY day, family
            """, bind: { $0.bind(1, day); bindFamily($0, at: 2) }) {
            stats.infectedPerDay.append(.init(day: $0.text(0), family: $0.text(1), addresses: Int($0.int64(2))))
        }
        try rows("""
            SELECT service, sum(events), sum(sessions) FROM service_hours
            WHERE hour >= ?1 AND (?2 IS NULL OR family = ?2) GROUP BY service ORDER BY 2 DESC, 1
            """, bind: { $0.bind(1, hour); bindFamily($0, at: 2) }) {
            stats.services.append(.init(service: $0.text(0), events: Int($0.int64(1)), sessions: Int($0.int64(2))))
        }
        try rows("""
            SELECT family, name, sum(sessions) FROM name_hours
            WHERE hour >= ?1 AND (?2 IS NULL OR family = ?2) GROUP BY family, name ORDER BY 3 DESC, 2 LIMIT ?3
            """, bind: { $0.bind(1, hour); bindFamily($0, at: 2); $0.bind(3, limit) }) {
            stats.topNames.append(.init(family: $0.text(0), name: $0.text(1), count: Int($0.int64(2))))
        }
        try rows("""
            SELECT family, qname, sum(count) FROM dns_queries
            WHERE hour >= ?1 AND family != '' AND (?2 IS NULL OR family = ?2) GROUP BY family, qname ORDER BY 3 DESC, 2 LIMIT ?3
            """, bind: { $0.bind(1, stats.topQueryNamesSince.hourStart.seconds); bindFamily($0, at: 2); $0.bind(3, limit) }) {
            stats.topQueryNames.append(.init(family: $0.text(0), name: $0.text(1), count: Int($0.int64(2))))
        }
        try rows("""
            SELECT src_ip, sum(queries) FROM resolver_hours WHERE hour >= ?1 GROUP BY src_ip ORDER BY 2 DESC, 1 LIMIT ?2
            """, bind: { $0.bind(1, hour); $0.bind(2, limit) }) {
            stats.topResolvers.append(.init(address: $0.text(0), queries: Int($0.int64(1))))
        }
        var nodes: [String: StoreStats.NodeCounters] = [:]
        try rows("SELECT node, name, value FROM counters", bind: { _ in }) {
            let node = $0.text(0)
            var counters = nodes[node] ?? .init(node: node, offered: 0, stored: 0, dropped: 0)
            let value = Int($0.int64(2))
            switch $0.text(1) {
            case "offered": counters.offered = value
            case "stored": counters.stored = value
            case "dropped": counters.dropped = value
            default: break
            }
            nodes[node] = counters
        }
        stats.nodes = nodes.values.sorted { $0.node < $1.node }
        return stats
    }
}
