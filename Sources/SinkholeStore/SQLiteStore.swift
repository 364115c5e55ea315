import CSQLite
import SinkholeCore

/// The embedded store: one SQLite file in WAL mode, one transaction per batch, prepared
/// statements reused for every row.
///
/// WAL with `synchronous=NORMAL`: a killed process loses nothing committed and never corrupts
/// the file; only a power cut can lose the last few batches (and still does not corrupt).
// @unchecked Sendable: the writer owns the store and calls it from one thread at a time
// (its own under its lock, or its commit thread, handed each batch through a semaphore); the
// SQLite handle is opened NOMUTEX for that reason.
public final class SQLiteStore: CheckInStore, @unchecked Sendable {
    private let db: SQLiteConnection
    private let insertCheckIn: SQLiteStatement
    private let upsertInfection: SQLiteStatement
    private let upsertDNSQuery: SQLiteStatement
    private let updateRun: SQLiteStatement
    private let addCounter: SQLiteStatement
    private let addInfectionDay: SQLiteStatement
    private let addServiceHour: SQLiteStatement
    private let addNameHour: SQLiteStatement
    private let addResolverHour: SQLiteStatement
    private var lastCounters: [Int64: RunCounters] = [:]

    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    public convenience init(path: String) throws {
        do {
            try self.init(opening: path)
        } catch let error as SQLiteError where !error.context.contains(path) {
            throw SQLiteError(code: error.code, message: error.message, context: "opening \(path): \(error.context)")
        }
    }

    private init(opening path: String) throws {
        db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA busy_timeout = 5000")
        let mode = try Self.journalMode(db)
        guard mode == "wal" else {
            throw SQLiteError(code: 0, message: "could not switch to WAL (journal mode is \(mode))", context: "opening \(path)")
        }
        try db.execute("PRAGMA synchronous = NORMAL")
        // 64 MiB of page cache (default 2 MiB): the upserts' index pages stay in memory.
        try db.execute("PRAGMA cache_size = -65536")
        try SQLiteSchema.migrate(db)
        // The HTTP detail comes from one request (the first of the session that had one): the
        // columns are filled together when the stored row has no method yet, or when only the
        // capture has filled them and a responder's detail arrives (SET reads the old values,
        // so `service` here is the stored one). The TLS detail likewise comes from one hello,
        // filled together when the row has no offered version.
        insertCheckIn = try db.prepare("""
            INSERT INTO checkins (node, event_id, first_seen, last_seen, count, transport, service, family,
                                  src_ip, src_port, dst_ip, dst_port, name, name_truncated, dns_type, dns_rcode,
                                  http_method, http_path, http_version, http_user_agent, http_referer,
                                  http_forwarded_for, http_content_length, http_body_bytes, http_body_sha256,
                                  http_header_count, http_status, first_bytes, truncated,
                                  listener_port, redirected,
                                  tls_sni, tls_offered_version, tls_offered_cipher, tls_offered_cipher_count,
                                  tls_version, tls_cipher, tls_completed, tcp_flags, icmp_type, icmp_code)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29,
                    ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41)
            ON CONFLICT (node, event_id) DO UPDATE SET
                first_seen = min(first_seen, excluded.first_seen),
                last_seen = max(last_seen, excluded.last_seen),
                count = count + excluded.count,
                service = CASE WHEN service = 'packet' THEN excluded.service ELSE service END,
                family = CASE WHEN family = '' THEN excluded.family ELSE family END,
                name = CASE WHEN name = '' THEN excluded.name ELSE name END,
                name_truncated = CASE WHEN name = '' THEN excluded.name_truncated ELSE name_truncated END,
                dns_type = CASE WHEN dns_type = 0 THEN excluded.dns_type ELSE dns_type END,
                http_method = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_method ELSE http_method END,
                http_path = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_path ELSE http_path END,
                http_version = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_version ELSE http_version END,
                http_user_agent = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_user_agent ELSE http_user_agent END,
                http_referer = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_referer ELSE http_referer END,
                http_forwarded_for = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_forwarded_for ELSE http_forwarded_for END,
                http_content_length = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_content_length ELSE http_content_length END,
                http_body_bytes = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_body_bytes ELSE http_body_bytes END,
                http_body_sha256 = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_body_sha256 ELSE http_body_sha256 END,
                http_header_count = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_header_count ELSE http_header_count END,
                http_status = CASE WHEN http_method = '' OR (service = 'packet' AND excluded.service <> 'packet' AND excluded.http_method <> '') THEN excluded.http_status ELSE http_status END,
                first_bytes = CASE WHEN first_bytes = '' THEN excluded.first_bytes ELSE first_bytes END,
                truncated = CASE WHEN truncated = '' THEN excluded.truncated ELSE truncated END,
                redirected = CASE WHEN listener_port = 0 THEN excluded.redirected ELSE redirected END,
                listener_port = CASE WHEN listener_port = 0 THEN excluded.listener_port ELSE listener_port END,
                tls_sni = CASE WHEN tls_offered_version = '' THEN excluded.tls_sni ELSE tls_sni END,
                tls_offered_cipher = CASE WHEN tls_offered_version = '' THEN excluded.tls_offered_cipher ELSE tls_offered_cipher END,
                tls_offered_cipher_count = CASE WHEN tls_offered_version = '' THEN excluded.tls_offered_cipher_count ELSE tls_offered_cipher_count END,
                tls_version = CASE WHEN tls_offered_version = '' THEN excluded.tls_version ELSE tls_version END,
                tls_cipher = CASE WHEN tls_offered_version = '' THEN excluded.tls_cipher ELSE tls_cipher END,
                tls_completed = CASE WHEN tls_offered_version = '' THEN excluded.tls_completed ELSE tls_completed END,
                tls_offered_version = CASE WHEN tls_offered_version = '' THEN excluded.tls_offered_version ELSE tls_offered_version END,
                tcp_flags = tcp_flags | excluded.tcp_flags,
                icmp_code = CASE WHEN icmp_type = 0 THEN excluded.icmp_code ELSE icmp_code END,
                icmp_type = CASE WHEN icmp_type = 0 THEN excluded.icmp_type ELSE icmp_type END
            """)
        upsertInfection = try db.prepare("""
            INSERT INTO infections (day, src_ip, family, first_seen, last_seen, count, last_src_port)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (day, src_ip, family) DO UPDATE SET
                first_seen = min(first_seen, excluded.first_seen),
                last_src_port = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_src_port ELSE last_src_port END,
                last_seen = max(last_seen, excluded.last_seen),
                count = count + excluded.count
            RETURNING count
            """)
        addInfectionDay = try db.prepare("""
            INSERT INTO infection_days (day, family, addresses) VALUES (?1, ?2, ?3)
            ON CONFLICT (day, family) DO UPDATE SET addresses = addresses + excluded.addresses
            """)
        upsertDNSQuery = try db.prepare("""
            INSERT INTO dns_queries (hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, family,
                                     qname_truncated, rate_limited, last_src_port)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            ON CONFLICT (hour, src_ip, qname, qname_truncated, qtype) DO UPDATE SET
                count = count + excluded.count,
                rate_limited = rate_limited + excluded.rate_limited,
                first_seen = min(first_seen, excluded.first_seen),
                last_rcode = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_rcode ELSE last_rcode END,
                last_src_port = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_src_port ELSE last_src_port END,
                last_seen = max(last_seen, excluded.last_seen)
            """)
        addServiceHour = try db.prepare("""
            INSERT INTO service_hours (hour, service, family, events, sessions) VALUES (?1, ?2, ?3, ?4, ?5)
            ON CONFLICT (hour, service, family) DO UPDATE SET
                events = events + excluded.events, sessions = sessions + excluded.sessions
            """)
        addNameHour = try db.prepare("""
            INSERT INTO name_hours (hour, family, name, sessions) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (hour, family, name) DO UPDATE SET sessions = sessions + excluded.sessions
            """)
        addResolverHour = try db.prepare("""
            INSERT INTO resolver_hours (hour, src_ip, queries) VALUES (?1, ?2, ?3)
            ON CONFLICT (hour, src_ip) DO UPDATE SET queries = queries + excluded.queries
            """)
        updateRun = try db.prepare("UPDATE runs SET offered = ?2, stored = ?3, dropped = ?4, stopped_at = coalesce(?5, stopped_at) WHERE run_id = ?1")
        addCounter = try db.prepare("""
            INSERT INTO counters (node, name, value) VALUES (?1, ?2, ?3)
            ON CONFLICT (node, name) DO UPDATE SET value = value + excluded.value
            """)
    }

    public func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        let insert = try db.prepare("INSERT INTO runs (node, started_at) VALUES (?1, ?2)")
        insert.bind(1, node)
        insert.bind(2, startedAt.microseconds)
        try insert.run()
        let id = sqlite3_last_insert_rowid(db.handle)
        lastCounters[id] = RunCounters()
        return id
    }

    public func write(_ batch: StoreBatch, node: String, run: Int64) throws {
        try db.execute("BEGIN IMMEDIATE")
        do {
            try writeRows(batch, node: node)
            let previous = lastCounters[run] ?? RunCounters()
            let counters = batch.counters
            updateRun.bind(1, run)
            updateRun.bind(2, counters.offered)
            updateRun.bind(3, counters.stored)
            updateRun.bind(4, counters.dropped)
            if let finished = batch.finishedAt { updateRun.bind(5, finished.microseconds) } else { updateRun.bindNull(5) }
            try updateRun.run()
            // A write for a run that was never begun would otherwise succeed and record nothing.
            guard sqlite3_changes(db.handle) == 1 else {
                throw SQLiteError(code: 0, message: "run \(run) was never begun", context: "updating runs")
            }
            for (name, delta) in [("offered", counters.offered - previous.offered),
                                  ("stored", counters.stored - previous.stored),
                                  ("dropped", counters.dropped - previous.dropped)] where delta != 0 {
                addCounter.bind(1, node)
                addCounter.bind(2, name)
                addCounter.bind(3, delta)
                try addCounter.run()
            }
            try db.execute("COMMIT")
            lastCounters[run] = counters
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    private func writeRows(_ batch: StoreBatch, node: String) throws {
        for row in batch.checkIns {
            let c = row.checkIn
            insertCheckIn.bind(1, node)
            insertCheckIn.bind(2, row.eventID)
            insertCheckIn.bind(3, c.time.microseconds)
            insertCheckIn.bind(4, row.lastSeen.microseconds)
            insertCheckIn.bind(5, row.count)
            insertCheckIn.bind(6, c.transport.name)
            insertCheckIn.bind(7, c.service.name)
            insertCheckIn.bind(8, c.family)
            insertCheckIn.bind(9, c.source.description)
            insertCheckIn.bind(10, Int(c.sourcePort))
            insertCheckIn.bind(11, c.destination.description)
            insertCheckIn.bind(12, Int(c.destinationPort))
            insertCheckIn.bind(13, c.name)
            insertCheckIn.bind(14, c.name.truncated ? 1 : 0)
            insertCheckIn.bind(15, Int(c.dnsType))
            insertCheckIn.bind(16, Int(c.dnsRcode))
            insertCheckIn.bind(17, c.httpMethod)
            insertCheckIn.bind(18, c.httpPath)
            insertCheckIn.bind(19, Self.httpVersion(c.httpVersion))
            insertCheckIn.bind(20, c.httpUserAgent)
            insertCheckIn.bind(21, c.httpReferer)
            insertCheckIn.bind(22, c.httpForwardedFor)
            if c.httpContentLength >= 0 { insertCheckIn.bind(23, c.httpContentLength) } else { insertCheckIn.bindNull(23) }
            insertCheckIn.bind(24, c.httpBodyBytes)
            insertCheckIn.bind(25, Self.hex(c.httpBodyDigest))
            insertCheckIn.bind(26, Int(c.httpHeaderCount))
            insertCheckIn.bind(27, Int(c.httpStatus))
            insertCheckIn.bind(28, c.firstBytes)
            insertCheckIn.bind(29, Self.truncatedFields(c))
            insertCheckIn.bind(30, Int(c.listenerPort))
            insertCheckIn.bind(31, c.redirected ? 1 : 0)
            insertCheckIn.bind(32, c.tlsServerName)
            insertCheckIn.bind(33, c.tlsOfferedVersion == 0 ? "" : TLSNames.version(c.tlsOfferedVersion))
            insertCheckIn.bind(34, c.tlsOfferedCipherCount == 0 ? "" : TLSNames.cipherSuite(c.tlsOfferedCipher))
            insertCheckIn.bind(35, Int(c.tlsOfferedCipherCount))
            insertCheckIn.bind(36, c.tlsVersion == 0 ? "" : TLSNames.version(c.tlsVersion))
            insertCheckIn.bind(37, c.tlsVersion == 0 ? "" : TLSNames.cipherSuite(c.tlsCipher))
            insertCheckIn.bind(38, c.tlsCompleted ? 1 : 0)
            insertCheckIn.bind(39, Int(c.tcpFlags))
            insertCheckIn.bind(40, Int(c.icmpType))
            insertCheckIn.bind(41, Int(c.icmpCode))
            try insertCheckIn.run()
        }
        var newAddresses: [InfectionDayKey: Int] = [:]
        for (key, row) in batch.infections {
            upsertInfection.bind(1, UTCTime(seconds: key.day).dayString)
            upsertInfection.bind(2, key.source.description)
            upsertInfection.bind(3, key.family)
            upsertInfection.bind(4, row.firstSeen.microseconds)
            upsertInfection.bind(5, row.lastSeen.microseconds)
            upsertInfection.bind(6, row.count)
            upsertInfection.bind(7, Int(row.lastSourcePort))
            // A row is new when its stored count is this batch's: a stored row has counted
            // at least one check-in before, and a new row counts at least one (the session
            // that made it). New rows are new infected addresses of that day and family.
            guard try upsertInfection.step() else {
                throw SQLiteError(code: 0, message: "no count returned", context: "upserting infections")
            }
            let isNew = upsertInfection.int64(0) == Int64(row.count)
            _ = try upsertInfection.step()
            if isNew { newAddresses[InfectionDayKey(day: key.day, family: key.family), default: 0] += 1 }
        }
        for (key, addresses) in newAddresses {
            addInfectionDay.bind(1, UTCTime(seconds: key.day).dayString)
            addInfectionDay.bind(2, key.family)
            addInfectionDay.bind(3, addresses)
            try addInfectionDay.run()
        }
        for (key, row) in batch.dnsQueries {
            upsertDNSQuery.bind(1, key.hour)
            upsertDNSQuery.bind(2, key.source.description)
            upsertDNSQuery.bind(3, key.qname)
            upsertDNSQuery.bind(4, Int(key.qtype))
            upsertDNSQuery.bind(5, row.count)
            upsertDNSQuery.bind(6, row.firstSeen.microseconds)
            upsertDNSQuery.bind(7, row.lastSeen.microseconds)
            upsertDNSQuery.bind(8, Int(row.lastRcode))
            upsertDNSQuery.bind(9, row.family)
            // A qname cut at its bound is kept apart from the complete name it starts like.
            upsertDNSQuery.bind(10, key.qname.truncated ? 1 : 0)
            upsertDNSQuery.bind(11, row.rateLimited)
            upsertDNSQuery.bind(12, Int(row.lastSourcePort))
            try upsertDNSQuery.run()
        }
        for (key, row) in batch.summary.services {
            addServiceHour.bind(1, key.hour)
            addServiceHour.bind(2, key.service.name)
            addServiceHour.bind(3, key.family)
            addServiceHour.bind(4, row.events)
            addServiceHour.bind(5, row.sessions)
            try addServiceHour.run()
        }
        for (key, sessions) in batch.summary.names {
            addNameHour.bind(1, key.hour)
            addNameHour.bind(2, key.family)
            addNameHour.bind(3, key.name)
            addNameHour.bind(4, sessions)
            try addNameHour.run()
        }
        for (key, queries) in batch.summary.resolvers {
            addResolverHour.bind(1, key.hour)
            addResolverHour.bind(2, key.source.description)
            addResolverHour.bind(3, queries)
            try addResolverHour.run()
        }
    }

    /// `1.0`, `1.1`, or empty when the check-in is not HTTP.
    static func httpVersion(_ version: UInt8) -> String {
        version == 0 ? "" : "\(version / 10).\(version % 10)"
    }

    /// Lowercase hex of a digest; empty for none.
    static func hex(_ digest: BoundedBytes<32>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        digest.withBytes { out.appendLowercaseHex($0) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The detail fields cut at their bound, comma-separated in column order (`name` has its
    /// own `name_truncated` column, kept from schema 1).
    static func truncatedFields(_ c: CheckIn) -> String {
        // Most rows have none: no array, no join.
        guard c.httpMethod.truncated || c.httpPath.truncated || c.httpUserAgent.truncated || c.httpReferer.truncated
            || c.httpForwardedFor.truncated || c.firstBytes.truncated || c.tlsServerName.truncated else { return "" }
        var names: [String] = []
        if c.httpMethod.truncated { names.append("http_method") }
        if c.httpPath.truncated { names.append("http_path") }
        if c.httpUserAgent.truncated { names.append("http_user_agent") }
        if c.httpReferer.truncated { names.append("http_referer") }
        if c.httpForwardedFor.truncated { names.append("http_forwarded_for") }
        if c.firstBytes.truncated { names.append("first_bytes") }
        if c.tlsServerName.truncated { names.append("tls_sni") }
        return names.joined(separator: ",")
    }

    public func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
        let cutoff = retention.cutoffs(now: now)
        // Oldest first, table by table, each step one short transaction of at most `limit`
        // rows found through the table's time-ordered key or index. A check-in goes once its
        // last event is past the cutoff, not its first: a session can run for weeks (a bot
        // beaconing from one port), and its row holds its latest evidence too. Such rows are
        // few, so the first_seen index still finds the candidates.
        try db.execute("BEGIN IMMEDIATE")
        do {
            let checkins = try retentionStatement("""
                DELETE FROM checkins WHERE (node, event_id) IN
                    (SELECT node, event_id FROM checkins WHERE first_seen < ?1 AND last_seen < ?1 LIMIT ?2)
                """)
            checkins.bind(1, cutoff.checkins.microseconds)
            checkins.bind(2, limit)
            try checkins.run()
            let deleted = Int(sqlite3_changes(db.handle))
            try db.execute("COMMIT")
            if deleted > 0 { return deleted }
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        for table in Self.keyedRetention {
            let deleted = try deleteOldest(table, limit: limit) { statement in
                switch table.cutoff {
                case .dnsHour: statement.bind(1, cutoff.dnsQueries.seconds)
                case .infectionDay: statement.bind(1, cutoff.infections.dayString)
                case .infectionHour: statement.bind(1, cutoff.infections.seconds)
                }
            }
            if deleted > 0 { return deleted }
        }
        return 0
    }

    /// A table whose key starts with its hour or day, and the cutoff it keeps.
    struct KeyedRetention {
        enum Cutoff { case dnsHour, infectionDay, infectionHour }
        let table: String
        let key: [String]
        let cutoff: Cutoff

        /// The `limit`th oldest key (OFFSET ?2 = limit - 1) before the cutoff ?1.
        var boundSQL: String {
            "SELECT \(key.joined(separator: ", ")) FROM \(table) WHERE \(key[0]) < ?1 ORDER BY \(key.joined(separator: ", ")) LIMIT 1 OFFSET ?2"
        }
        /// Every row up to a bound key: a range of the key, never a scan of its first column.
        var deleteUpToSQL: String {
            "DELETE FROM \(table) WHERE (\(key.joined(separator: ", "))) <= (\(key.indices.map { "?\($0 + 1)" }.joined(separator: ", ")))"
        }
        /// The fewer than `limit` rows left before the cutoff ?1.
        var deleteRestSQL: String { "DELETE FROM \(table) WHERE \(key[0]) < ?1" }
    }

    /// The summaries follow what they summarise (`Retention`).
    static let keyedRetention: [KeyedRetention] = [
        .init(table: "dns_queries", key: ["hour", "src_ip", "qname", "qname_truncated", "qtype"], cutoff: .dnsHour),
        .init(table: "resolver_hours", key: ["hour", "src_ip"], cutoff: .dnsHour),
        .init(table: "infections", key: ["day", "src_ip", "family"], cutoff: .infectionDay),
        .init(table: "infection_days", key: ["day", "family"], cutoff: .infectionDay),
        .init(table: "service_hours", key: ["hour", "service", "family"], cutoff: .infectionHour),
        .init(table: "name_hours", key: ["hour", "family", "name"], cutoff: .infectionHour),
    ]

    /// Deletes the `limit` oldest rows of `table` before its cutoff, in one transaction, by a
    /// range of its key up to the `limit`th one. A single `DELETE … WHERE (key) IN (SELECT …
    /// LIMIT n)` was planned by SQLite 3.40 as a search on the key's first column only, so
    /// each step read the whole oldest hour of `dns_queries` (0.4 s for a million-row hour,
    /// the writer held all the while).
    private func deleteOldest(_ table: KeyedRetention, limit: Int, bindCutoff: (SQLiteStatement) -> Void) throws -> Int {
        let bound = try retentionStatement(table.boundSQL)
        try db.execute("BEGIN IMMEDIATE")
        do {
            bindCutoff(bound)
            bound.bind(2, max(limit, 1) - 1)
            if try bound.step() {
                let delete = try retentionStatement(table.deleteUpToSQL)
                for column in table.key.indices {
                    delete.bind(Int32(column + 1), copyOf: Int32(column), of: bound)
                }
                bound.reset()
                try delete.run()
            } else {
                let delete = try retentionStatement(table.deleteRestSQL)
                bindCutoff(delete)
                try delete.run()
            }
            let deleted = Int(sqlite3_changes(db.handle))
            try db.execute("COMMIT")
            return deleted
        } catch {
            bound.reset()
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Retention statements, prepared on first use (a store that never sweeps never pays).
    private var retentionStatements: [String: SQLiteStatement] = [:]

    private func retentionStatement(_ sql: String) throws -> SQLiteStatement {
        if let prepared = retentionStatements[sql] { return prepared }
        let prepared = try db.prepare(sql)
        retentionStatements[sql] = prepared
        return prepared
    }

    public func close() {
        // A clean close checkpoints the WAL into the main file, so the database is one file
        // again for whoever copies it off the host.
        try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    private static func journalMode(_ db: SQLiteConnection) throws -> String {
        let statement = try db.prepare("PRAGMA journal_mode = WAL")
        guard try statement.step(), let text = sqlite3_column_text(statement.statement, 0) else { return "unknown" }
        let mode = String(cString: text)
        _ = try statement.step()
        return mode
    }
}

/// A day and family of `infection_days`.
private struct InfectionDayKey: Hashable {
    var day: Int64
    var family: BoundedBytes<32>
}
