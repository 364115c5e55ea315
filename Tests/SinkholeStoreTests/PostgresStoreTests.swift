import Foundation
import Logging
import PostgresTestSupport
import SinkholeCore
@testable import SinkholeStore
import Testing

@Suite("PostgresLocation: store.postgres URLs")
struct PostgresLocationTests {
    @Test("TCP, IPv6 and unix-socket URLs parse; a percent-encoded password is decoded")
    func parses() throws {
        let tcp = try PostgresLocation(url: "postgresql://sinkhole:s%40cret@db.example:6543/evidence")
        #expect(tcp == PostgresLocation(user: "sinkhole", password: "s@cret", host: "db.example", port: 6543, database: "evidence"))
        let v6 = try PostgresLocation(url: "postgres://u@[::1]/d")
        #expect(v6.host == "::1" && v6.port == 5432 && v6.password == nil)
        let socket = try PostgresLocation(url: "postgresql://u@/d?host=/run/postgresql&port=5433")
        #expect(socket.socketPath == "/run/postgresql/.s.PGSQL.5433" && socket.host == nil)
    }

    @Test("the description never shows the password", arguments: [
        "postgresql://u:hunter2@db/d", "postgresql://u:hunter2@/d?host=/tmp", "postgresql://u:hunter2@[::1]:5/d",
    ])
    func redacted(url: String) throws {
        let location = try PostgresLocation(url: url)
        #expect(location.password == "hunter2")
        #expect(!location.description.contains("hunter2"))
        #expect(location.description.contains("/d") && location.description.contains("u@"))
    }

    @Test("a URL without user, host or database, or with a bad port, is refused without echoing it", arguments: [
        "mysql://u@h/d", "postgresql://h/d", "postgresql://u:pw@h", "postgresql://u:pw@h:99999/d", "postgresql://u:pw@/d",
        "postgresql://u:pw@h/d?sslmode=require",
    ])
    func refused(url: String) {
        let error = #expect(throws: PostgresLocation.ParseError.self) { try PostgresLocation(url: url) }
        #expect(error.map { !$0.description.contains("pw") } ?? false)
    }
}

@Suite("PostgresStore: schema, partitions, retention and failures")
struct PostgresStoreTests {
    @Test("a new database gets every table, migration 1 and a checkins partition per day of session start")
    func schemaAndPartitions() throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try fixture.open()
        defer { store.close() }
        let probe = try fixture.probe()
        #expect(try probe.rows("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
                == ["checkins", "counters", "dns_queries", "infection_days", "infections", "name_hours", "resolver_hours", "runs",
                    "schema_migrations", "service_hours"].map { [.text($0)] })
        #expect(try probe.rows("SELECT version FROM schema_migrations ORDER BY version") == PostgresSchema.migrations.map { [.integer(Int64($0.version))] })
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        // Two days, and a session that started before midnight and goes on after it: the row
        // stays in its start day's partition.
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Events.session(at: Events.at(86_399)), Events.session(at: Events.at(86_400 + 5), sourcePort: 9)],
                             into: &dedup), node: "n1", run: run)
        try store.write(fold([Events.session(at: Events.at(86_400 + 30))], into: &dedup), node: "n1", run: run)
        #expect(try probe.rows("SELECT tableoid::regclass::text, count FROM checkins ORDER BY first_seen") == [
            [.text("checkins_20240310"), .integer(2)], [.text("checkins_20240311"), .integer(1)],
        ])
        // The check-in key compares byte by byte in the table and in every partition.
        #expect(try probe.rows("""
            SELECT DISTINCT coalesce(collation_name, 'default') FROM information_schema.columns
            WHERE table_name LIKE 'checkins%' AND column_name IN ('node', 'event_id')
            """) == [[.text("C")]])
    }

    @Test("reopening neither migrates again nor loses rows; a newer schema version is refused")
    func reopen() throws {
        let fixture = try StoreUnderTest(.postgres)
        do {
            let store = try fixture.open()
            let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
            try store.write(fold([Events.session(at: Events.at(10)), Events.dns(at: Events.at(11))]), node: "n1", run: run)
            store.close()
        }
        let probe = try fixture.probe()
        let applied = try probe.rows("SELECT version, applied_at FROM schema_migrations")
        let again = try fixture.open()
        #expect(try again.beginRun(node: "n1", startedAt: Events.at(100)) == 2)
        again.close()
        #expect(try probe.rows("SELECT version, applied_at FROM schema_migrations") == applied)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 1)
        _ = try probe.rows("INSERT INTO schema_migrations VALUES (99, 0)")
        let error = #expect(throws: PostgresStoreError.self) { try fixture.open() }
        #expect(error?.description.contains("schema version 99") == true)
    }

    static let names: [[UInt8]] = [
        Array("c2.example".utf8), Array("bücher.example".utf8), [0x63, 0x32, 0xFF, 0xFE, 0x2E, 0x65], [0x61, 0xC3],
        [0x61, 0x00, 0x62],  // NUL: a PostgreSQL text value cannot hold it; bytea can
        [0x61, 0x09, 0x0A, 0x5C, 0x0D, 0x5C, 0x5C, 0x62],  // COPY's field and row ends and its escape
    ]

    @Test("network bytes are stored byte for byte (bytea), NUL and invalid UTF-8 included", arguments: names)
    func bytesExact(bytes: [UInt8]) throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var session = Events.session(at: Events.at(10), nameBytes: bytes)
        session.firstBytes = BoundedBytes(bytes)
        try store.write(fold([session, Events.dns(at: Events.at(10), qnameBytes: bytes)]), node: "n1", run: run)
        let probe = try fixture.probe()
        for (table, column) in [("checkins", "name"), ("checkins", "first_bytes"), ("dns_queries", "qname")] {
            let rows = try probe.rows("SELECT encode(\(column), 'hex') FROM \(table)")
            #expect(rows == [[.text(bytes.map { String(format: "%02x", $0) }.joined())]], "\(table).\(column)")
        }

        // The other way in: a packet session stored without a name, then the responder's
        // delta row naming it, merged from the copied rows of the second batch.
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Events.session(at: Events.at(20), service: .packet, sourcePort: 7)], into: &dedup), node: "n1", run: run)
        var named = Events.session(at: Events.at(21), sourcePort: 7, nameBytes: bytes)
        named.httpUserAgent = BoundedBytes(bytes)
        let delta = fold([named], into: &dedup)
        #expect(delta.checkIns.map(\.opensSession) == [false])
        try store.write(delta, node: "n1", run: run)
        let merged = try probe.rows("SELECT encode(name, 'hex'), encode(http_user_agent, 'hex'), count FROM checkins WHERE src_port = 7")
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        #expect(merged == [[.text(hex), .text(hex), .integer(2)]])
    }

    @Test("a COPY the server stops reading part-way fails the write at the timeout without taking the process down; the batch is stored on the next try")
    func copyOutlastsTimeout() throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try PostgresStore(location: fixture.location, timeout: .seconds(2), logger: Logger(label: "test"))
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        // Creates the day's partition, which the probe then locks: the server takes that lock
        // only when the COPY routes its first row there, after the COPY has begun.
        try store.write(fold([Events.session(at: Events.at(10), sourcePort: 1)]), node: "n1", run: run)
        let probe = try fixture.probe()
        _ = try probe.rows("BEGIN")
        _ = try probe.rows("LOCK TABLE checkins_20240310 IN ACCESS EXCLUSIVE MODE")
        // Enough rows (about 1.4 MB) to fill the socket's buffers: the COPY is still sending
        // when the timeout comes, which is when postgres-nio must not be closed under it.
        let batch = fold((0..<4096).map { Events.session(at: Events.at(20), source: "203.0.113.9", sourcePort: UInt16(2000 + $0)) })
        #expect(throws: PostgresStoreError.self) { try store.write(batch, node: "n1", run: run) }
        _ = try probe.rows("COMMIT")
        try store.write(batch, node: "n1", run: run)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 4097)
    }

    @Test("a write that fails part-way stores none of the batch; the same batch retried is stored once")
    func failedWriteRollsBack() throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var first = fold([Events.session(at: Events.at(1)), Events.dns(at: Events.at(1))])
        first.counters = RunCounters(offered: 2, stored: 2, dropped: 0)
        try store.write(first, node: "n1", run: run)
        let probe = try fixture.probe()
        _ = try probe.rows("CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$")
        _ = try probe.rows("CREATE TRIGGER injected_failure BEFORE INSERT ON dns_queries FOR EACH ROW EXECUTE FUNCTION fail()")
        var second = fold([Events.session(at: Events.at(10), sourcePort: 2), Events.dns(at: Events.at(12), qname: "new.example")])
        second.counters = RunCounters(offered: 6, stored: 5, dropped: 1)
        let snapshot = """
            SELECT (SELECT count(*) FROM checkins), (SELECT sum(count) FROM infections), (SELECT count(*) FROM dns_queries),
                   (SELECT offered FROM runs), (SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM counters)
            """
        let before = try probe.rows(snapshot)
        let error = #expect(throws: PostgresStoreError.self) { try store.write(second, node: "n1", run: run) }
        #expect(error?.description.contains("injected failure") == true)
        let afterFailure = try probe.rows(snapshot)
        #expect(afterFailure == before)
        _ = try probe.rows("DROP TRIGGER injected_failure ON dns_queries")
        try store.write(second, node: "n1", run: run)
        let afterRetry = try probe.rows(snapshot)
        #expect(afterRetry == [[.integer(2), .integer(2), .integer(2), .integer(6), .text("dropped=1,offered=6,stored=5")]])
    }

    @Test("a batch retried after its COMMIT's answer was lost is stored once, counters included")
    func retriedAfterLostCommit() throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var batch = fold([Events.session(at: Events.at(5)), Events.dns(at: Events.at(5))])
        batch.counters = RunCounters(offered: 3, stored: 2, dropped: 1)
        // The writer retries a batch it believes failed: the same batch, committed twice.
        try store.write(batch, node: "n1", run: run)
        try store.write(batch, node: "n1", run: run)
        var last = StoreBatch()
        last.counters = RunCounters(offered: 3, stored: 2, dropped: 1)
        last.finishedAt = Events.at(9)
        try store.write(last, node: "n1", run: run)
        try store.write(last, node: "n1", run: run)
        let probe = try fixture.probe()
        let sums = try probe.rows("""
            SELECT (SELECT sum(count) FROM checkins), (SELECT sum(count) FROM infections), (SELECT sum(count) FROM dns_queries),
                   (SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM counters),
                   (SELECT stored FROM runs), (SELECT stopped_at FROM runs)
            """)
        #expect(sums == [[.integer(1), .integer(1), .integer(1), .text("dropped=1,offered=3,stored=2"), .integer(2),
                          .integer(Events.at(9).microseconds)]])
    }

    @Test("a connection the server drops fails at most one write; the next attempt reconnects and stores the batch once")
    func reconnects() throws {
        let fixture = try StoreUnderTest(.postgres)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        let probe = try fixture.probe()
        _ = try probe.rows("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """)
        let batch = fold([Events.session(at: Events.at(5)), Events.dns(at: Events.at(5))])
        var failures = 0
        while true {
            do {
                try store.write(batch, node: "n1", run: run)
                break
            } catch {
                failures += 1
                #expect(error is PostgresStoreError)
                try #require(failures < 3)
            }
        }
        // One failed attempt when the store had not yet seen the connection close, none when it had.
        #expect(failures <= 1)
        let stored = try probe.rows("SELECT sum(count) FROM checkins")
        #expect(stored == [[.integer(1)]])
    }

    @Test("an unreachable server is a PostgresStoreError naming the socket and database, never the password")
    func unreachable() throws {
        let location = try PostgresLocation(url: "postgresql://u:hunter2@/evidence?host=/nonexistent-sinkhole-dir")
        let error = #expect(throws: PostgresStoreError.self) {
            try PostgresStore(location: location, timeout: .seconds(5), logger: Logger(label: "test"))
        }
        let text = error?.description ?? ""
        #expect(text.contains("/nonexistent-sinkhole-dir") && text.contains("evidence"))
        #expect(!text.contains("hunter2"))
        // TCP: nothing listens on port 1 of the loopback.
        let tcp = try PostgresLocation(url: "postgresql://u:hunter2@127.0.0.1:1/evidence")
        let refused = #expect(throws: PostgresStoreError.self) {
            try PostgresStore(location: tcp, timeout: .seconds(5), logger: Logger(label: "test"))
        }
        #expect(refused?.description.contains("127.0.0.1:1/evidence") == true)
        #expect(refused?.description.contains("hunter2") == false)
    }

    @Test("a role that needs a password logs in with the one in the URL; a wrong one is refused without being shown")
    func passwordAuthentication() throws {
        let cluster = try PostgresCluster.shared()
        let database = try cluster.makeDatabase(owner: cluster.passwordUser)
        let good = try PostgresLocation(url: cluster.passwordURL(database: database, password: cluster.password))
        let store = try PostgresStore(location: good, timeout: .seconds(10), logger: Logger(label: "test"))
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        try store.write(fold([Events.session(at: Events.at(1))]), node: "n1", run: run)
        store.close()
        for password in ["wrong-password", nil] {
            let bad = try PostgresLocation(url: cluster.passwordURL(database: database, password: password))
            let error = #expect(throws: PostgresStoreError.self) {
                try PostgresStore(location: bad, timeout: .seconds(10), logger: Logger(label: "test"))
            }
            let text = error?.description ?? ""
            #expect(text.contains(database) && text.contains(cluster.passwordUser), "\(text)")
            #expect(!text.contains("wrong-password") && !text.contains(cluster.password), "\(text)")
        }
    }

    @Test("retention drops whole checkins partitions older than the limit and deletes old summary rows")
    func retention() throws {
        let fixture = try StoreUnderTest(.postgres)
        // Now is day 10 after the base; checkins are kept 2 days, summaries 5.
        let now = Events.at(10 * 86_400 + 3600)
        let store = try fixture.open(retention: .init(checkins: 2, infections: 5, dnsQueries: 5), clock: { now })
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        for day: Int64 in [1, 6, 8, 9, 10] {
            // Written one day at a time: retention runs at most hourly, after the first batch.
            try store.write(fold([Events.session(at: Events.at(day * 86_400 + 60)), Events.dns(at: Events.at(day * 86_400 + 60))]),
                            node: "n1", run: run)
        }
        let pgStore = try #require(store as? PostgresStore)
        // The first batch started retention in the background; the writer did not wait for it.
        #expect(pgStore.waitUntilRetentionIdle())
        try pgStore.enforceRetention(now: now)
        let probe = try fixture.probe()
        #expect(try probe.rows("""
            SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'checkins' ORDER BY 1
            """) == [[.text("checkins_20240318")], [.text("checkins_20240319")], [.text("checkins_20240320")]])
        #expect(try probe.rows("SELECT day FROM infections ORDER BY day")
                == ["2024-03-16", "2024-03-18", "2024-03-19", "2024-03-20"].map { [.text($0)] })
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 4)
        // A late check-in for a dropped day gets its partition back rather than failing.
        try store.write(fold([Events.session(at: Events.at(86_400 + 99), sourcePort: 7)]), node: "n1", run: run)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 4)
    }

    @Test("the event id's session start is the partition key", arguments: [
        ("1710028800000000-udp-192.0.2.1-53-198.51.100.10-53", Int64(1_710_028_800_000_000)),
        ("-5-tcp-x", -5), ("12", 12),
    ])
    func sessionStart(id: String, start: Int64) {
        #expect(PostgresSchema.sessionStart(eventID: id) == start)
    }

    @Test("partition names and days convert both ways", arguments: [Int64(0), 1_710_028_800, 951_782_400, 4_102_444_800])
    func partitionNames(day: Int64) {
        let name = PostgresSchema.partitionName(day: day)
        #expect(PostgresSchema.partitionDay(name) == day, "\(name)")
        #expect(PostgresSchema.partition(name, isBefore: day + 86_400) && !PostgresSchema.partition(name, isBefore: day))
    }
}
