import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SinkholeCore

/// Reads `StoreStats` from a PostgreSQL store: the same queries as `SQLiteStats` over the same
/// summaries (PostgreSQL migration 8), on a connection of its own that writes nothing, so it
/// runs beside every node writing the database. The summaries hold every node's rows, so the
/// figures are the whole store's.
public enum PostgresStats {
    /// - Parameters:
    ///   - limit: rows in each "top" section.
    ///   - timeout: how long connecting, or any one query, may take.
    /// - Throws: `PostgresStoreError` naming the location (never its password) when the server
    ///   cannot be reached, the database is not a sinkhole store, or no sinkhole has upgraded
    ///   it to the summaries yet.
    public static func read(location: PostgresLocation, since: UTCTime, family: String?, limit: Int = 10,
                            now: UTCTime = .now(), timeout: Duration = .seconds(10)) throws -> StoreStats {
        let connection = try PostgresReadConnection(location: location, timeout: timeout, label: "sinkhole.stats")
        func rows(_ what: String, _ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [PostgresRow] {
            try connection.rows(what, sql, binds)
        }
        guard try connection.hasMigration(8) else {
            throw PostgresStoreError(message: "the store has no summaries yet (schema migration 8); start this sinkhole once (`sinkhole run`) to upgrade it, then ask again",
                                     location: location)
        }

        var stats = StoreStats(since: since, family: family)
        stats.topQueryNamesSince = max(since, UTCTime(microseconds: now.microseconds - 86_400_000_000))
        /// `$1` the start (an hour or a day), then the family or NULL (`$2`) and the limit.
        func binds(_ from: some PostgresEncodable & Sendable, byFamily: Bool = true, limited: Bool = false) throws -> PostgresBindings {
            var binds = PostgresBindings(capacity: 3)
            try binds.append(from)
            if byFamily { try binds.append(family) }
            if limited { try binds.append(Int64(limit)) }
            return binds
        }
        let hour = since.hourStart.seconds
        // Text sorts bytewise (COLLATE "C") as in SQLite, whatever the database's locale.
        // sum() of bigint is numeric: cast back. Names are bytea, shown as UTF-8 (invalid
        // sequences replaced) as SQLiteStats reads its TEXT.
        for row in try rows("reading infection_days", """
            SELECT day, family, sum(addresses)::int8 FROM infection_days
            WHERE day >= $1 AND ($2::text IS NULL OR family = $2) GROUP BY day, family ORDER BY day COLLATE "C", family COLLATE "C"
            """, try binds(since.dayString)) {
            let (day, family, addresses) = try row.decode((String, String, Int64).self)
            stats.infectedPerDay.append(.init(day: day, family: family, addresses: Int(addresses)))
        }
        for row in try rows("reading service_hours", """
            SELECT service, sum(events)::int8, sum(sessions)::int8 FROM service_hours
            WHERE hour >= $1 AND ($2::text IS NULL OR family = $2) GROUP BY service ORDER BY sum(events) DESC, service COLLATE "C"
            """, try binds(hour)) {
            let (service, events, sessions) = try row.decode((String, Int64, Int64).self)
            stats.services.append(.init(service: service, events: Int(events), sessions: Int(sessions)))
        }
        for row in try rows("reading name_hours", """
            SELECT family, name, sum(sessions)::int8 FROM name_hours
            WHERE hour >= $1 AND ($2::text IS NULL OR family = $2) GROUP BY family, name ORDER BY sum(sessions) DESC, name LIMIT $3
            """, try binds(hour, limited: true)) {
            let (family, name, sessions) = try row.decode((String, ByteBuffer, Int64).self)
            stats.topNames.append(.init(family: family, name: String(buffer: name), count: Int(sessions)))
        }
        for row in try rows("reading dns_queries", """
            SELECT family, qname, sum(count)::int8 FROM dns_queries
            WHERE hour >= $1 AND family <> '' AND ($2::text IS NULL OR family = $2) GROUP BY family, qname ORDER BY sum(count) DESC, qname LIMIT $3
            """, try binds(stats.topQueryNamesSince.hourStart.seconds, limited: true)) {
            let (family, qname, queries) = try row.decode((String, ByteBuffer, Int64).self)
            stats.topQueryNames.append(.init(family: family, name: String(buffer: qname), count: Int(queries)))
        }
        for row in try rows("reading resolver_hours", """
            SELECT src_ip, sum(queries)::int8 FROM resolver_hours
            WHERE hour >= $1 GROUP BY src_ip ORDER BY sum(queries) DESC, src_ip COLLATE "C" LIMIT $2
            """, try binds(hour, byFamily: false, limited: true)) {
            let (address, queries) = try row.decode((String, Int64).self)
            stats.topResolvers.append(.init(address: address, queries: Int(queries)))
        }
        var nodes: [String: StoreStats.NodeCounters] = [:]
        for row in try rows("reading counters", "SELECT node, name, value FROM counters") {
            let (node, name, value) = try row.decode((String, String, Int64).self)
            var counters = nodes[node] ?? .init(node: node, offered: 0, stored: 0, dropped: 0)
            switch name {
            case "offered": counters.offered = Int(value)
            case "stored": counters.stored = Int(value)
            case "dropped": counters.dropped = Int(value)
            default: break
            }
            nodes[node] = counters
        }
        stats.nodes = nodes.values.sorted { $0.node < $1.node }
        return stats
    }
}
