import Foundation
import SinkholeCore
@testable import SinkholeStore
import Testing

@Suite("SQLiteStore: schema and opening")
struct SQLiteStoreSchemaTests {
    /// Every migration's version: versions only increase, but need not be consecutive (each
    /// branch of work takes its own number).
    static let versions = SQLiteSchema.migrations.map { [SQLValue.integer(Int64($0.version))] }

    @Test("a new file gets every table, every schema version and WAL journaling")
    func createsSchema() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }

        let probe = try DatabaseProbe(dir)
        let tables = try probe.texts("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        #expect(tables == ["checkins", "counters", "dns_queries", "infection_days", "infections", "name_hours", "resolver_hours", "runs",
                           "schema_migrations", "service_hours"])
        #expect(try probe.rows("SELECT version FROM schema_migrations ORDER BY version") == Self.versions)
        #expect(try probe.text("PRAGMA journal_mode") == "wal")
        #expect(try probe.text("PRAGMA integrity_check") == "ok")
    }

    @Test("reopening an existing file neither migrates again nor loses rows")
    func reopenKeepsRows() throws {
        let dir = try TemporaryDirectory()
        do {
            let store = try SQLiteStore(path: dir.path())
            let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
            #expect(run == 1)
            try store.write(fold([Events.session(at: Events.at(10)), Events.dns(at: Events.at(11))]), node: "n1", run: run)
            store.close()
        }
        let probe = try DatabaseProbe(dir)
        let applied = try probe.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        #expect(applied.count == Self.versions.count)

        let reopened = try SQLiteStore(path: dir.path())
        defer { reopened.close() }
        #expect(try reopened.beginRun(node: "n1", startedAt: Events.at(100)) == 2)
        #expect(try probe.rows("SELECT version, applied_at FROM schema_migrations ORDER BY version") == applied)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 1)
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 1)
        #expect(try probe.integer("SELECT count(*) FROM infections") == 1)
        #expect(try probe.integer("SELECT count(*) FROM runs") == 2)
    }

    @Test("a path in a directory that does not exist throws an SQLiteError naming the path")
    func missingDirectory() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url.appendingPathComponent("no-such-dir/deeper/checkins.db").path
        let error = try #require(throws: SQLiteError.self) { try SQLiteStore(path: path) }
        #expect(error.description.contains(path))
        #expect(error.code != 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a file that is not a database is refused on open and left untouched")
    func notADatabase() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("notes.txt")
        let content = Data(String(repeating: "not an SQLite database, just text\n", count: 200).utf8)
        try content.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: SQLiteError.self) { try SQLiteStore(path: path) }
        #expect(error.code == 26)  // SQLITE_NOTADB
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
        #expect(error.description.contains(path))
    }

    @Test("a version 1 database upgrades in place: its rows kept, rate_limited added as 0")
    func upgradesFromVersion1() throws {
        let dir = try TemporaryDirectory()
        do {
            // A database as sinkhole 0.1.0 left it: migration 1 only, one DNS row. An empty file
            // is an empty SQLite database.
            #expect(FileManager.default.createFile(atPath: dir.path(), contents: nil))
            let probe = try DatabaseProbe(dir)
            _ = try probe.rows("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            for statement in SQLiteSchemaVersion1.statements { _ = try probe.rows(statement) }
            _ = try probe.rows("INSERT INTO schema_migrations VALUES (1, 0)")
            _ = try probe.rows("""
                INSERT INTO dns_queries VALUES (3600, '203.0.113.9', 'cc.evil.example', 0, 1, 7, 10, 20, 0, 'rustock')
                """)
        }
        let store = try SQLiteStore(path: dir.path())
        try store.write(fold([Events.dns(at: Events.at(11))]), node: "n1", run: try store.beginRun(node: "n1", startedAt: Events.at(0)))
        store.close()
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT version FROM schema_migrations ORDER BY version") == Self.versions)
        #expect(try probe.rows("SELECT count, rate_limited FROM dns_queries WHERE qname = 'cc.evil.example'") == [[.integer(7), .integer(0)]])
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 2)
    }

    @Test("a migration numbered below the file's highest version but never applied to it is applied on open")
    func appliesAMissingLowerMigration() throws {
        // Branches take their own numbers and land in any order (4, 6 and 7 are still on their
        // branches while 5 and 8 are here): a file at 8 that has not had 5 must still get it.
        let dir = try TemporaryDirectory()
        try SQLiteStore(path: dir.path()).close()
        do {
            let probe = try DatabaseProbe(dir)
            try probe.execute("""
                ALTER TABLE checkins DROP COLUMN listener_port; ALTER TABLE checkins DROP COLUMN redirected;
                DELETE FROM schema_migrations WHERE version = 5
                """)
        }
        let store = try SQLiteStore(path: dir.path())
        try store.write(fold([Events.session(at: Events.at(10))]), node: "n1", run: try store.beginRun(node: "n1", startedAt: Events.at(0)))
        store.close()
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT version FROM schema_migrations ORDER BY version") == Self.versions)
        #expect(try probe.integer("SELECT count(*) FROM checkins WHERE listener_port = 0 AND redirected = 0") == 1)
    }

    @Test("rate-limited queries are counted in their row's rate_limited, across batches")
    func rateLimitedCounted() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var limited = Events.dns(at: Events.at(12))
        limited.rateLimited = true
        try store.write(fold([Events.dns(at: Events.at(11)), limited]), node: "n1", run: run)
        try store.write(fold([limited, limited]), node: "n1", run: run)
        store.close()
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT count, rate_limited FROM dns_queries") == [[.integer(4), .integer(3)]])
    }

    @Test("a database written by a newer schema version is refused rather than guessed at")
    func newerSchemaRefused() throws {
        let dir = try TemporaryDirectory()
        try SQLiteStore(path: dir.path()).close()
        let probe = try DatabaseProbe(dir)
        _ = try probe.rows("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
        let error = try #require(throws: SQLiteError.self) { try SQLiteStore(path: dir.path()) }
        #expect(error.description.contains("newer"))
        #expect(error.description.contains(dir.path()))
    }
}

@Suite("Stores (SQLite and PostgreSQL): upserts")
struct SQLiteStoreUpsertTests {
    @Test("dns_queries rows merge across writes: count adds, first seen min, last seen max, last rcode and source port follow the latest", arguments: StoreKind.allCases)
    func dnsMerges(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        try store.write(fold([Events.dns(at: Events.at(120), sourcePort: 2001, qname: "c2.example", rcode: 3),
                              Events.dns(at: Events.at(100), sourcePort: 2000, qname: "C2.example", rcode: 3)]), node: "n1", run: run)
        // Earlier events arriving later (another ring, a replay): the rcode and port stay the latest one's.
        try store.write(fold([Events.dns(at: Events.at(50), sourcePort: 1999, qname: "c2.EXAMPLE", rcode: 0)]), node: "n1", run: run)

        let probe = try fixture.probe()
        let query = "SELECT hour, src_ip, qname, qtype, count, first_seen, last_seen, last_rcode, last_src_port FROM dns_queries"
        #expect(try probe.rows(query) == [[
            .integer(Events.base.seconds), .text("192.0.2.53"), .text("c2.example"), .integer(1),
            .integer(3), .integer(Events.at(50).microseconds), .integer(Events.at(120).microseconds), .integer(3), .integer(2001),
        ]])

        try store.write(fold([Events.dns(at: Events.at(200), sourcePort: 2002, qname: "c2.example", rcode: 5)]), node: "n1", run: run)
        #expect(try probe.rows("SELECT count, last_seen, last_rcode, last_src_port FROM dns_queries")
                == [[.integer(4), .integer(Events.at(200).microseconds), .integer(5), .integer(2002)]])
        #expect(try probe.integrity() == "ok")
    }

    @Test("infections rows merge across writes: count adds, first/last seen widen, last source port follows the latest", arguments: StoreKind.allCases)
    func infectionsMerge(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        try store.write(fold([Events.session(at: Events.at(100), sourcePort: 1000)]), node: "n1", run: run)
        try store.write(fold([Events.session(at: Events.at(50), sourcePort: 2000)]), node: "n1", run: run)

        let probe = try fixture.probe()
        let query = "SELECT day, src_ip, family, first_seen, last_seen, count, last_src_port FROM infections"
        #expect(try probe.rows(query) == [[
            .text("2024-03-10"), .text("203.0.113.7"), .text("rustock"),
            .integer(Events.at(50).microseconds), .integer(Events.at(100).microseconds), .integer(2), .integer(1000),
        ]])

        try store.write(fold([Events.session(at: Events.at(300), sourcePort: 3000)]), node: "n1", run: run)
        #expect(try probe.rows("SELECT count, last_seen, last_src_port FROM infections")
                == [[.integer(3), .integer(Events.at(300).microseconds), .integer(3000)]])
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 3)
    }

    @Test("a continued-session delta row adds its count and upgrades 'packet' to the responder's service and detail", arguments: StoreKind.allCases)
    func deltaUpgradesPacket(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Events.session(at: Events.at(10), service: .packet, family: ""),
                              Events.session(at: Events.at(11), service: .packet, family: "")], into: &dedup),
                        node: "n1", run: run)
        let probe = try fixture.probe()
        let query = "SELECT count(*), sum(count), min(service), min(family), (SELECT name FROM checkins LIMIT 1), min(first_seen), max(last_seen) FROM checkins"
        #expect(try probe.rows(query) == [[
            .integer(1), .integer(2), .text("packet"), .text(""), .text(""),
            .integer(Events.at(10).microseconds), .integer(Events.at(11).microseconds),
        ]])

        try store.write(fold([Events.session(at: Events.at(12), service: .http, family: "rustock", name: "c2.example")],
                             into: &dedup), node: "n1", run: run)
        #expect(try probe.rows(query) == [[
            .integer(1), .integer(3), .text("http"), .text("rustock"), .text("c2.example"),
            .integer(Events.at(10).microseconds), .integer(Events.at(12).microseconds),
        ]])

        // A later delta from another responder or packet does not downgrade or overwrite.
        try store.write(fold([Events.session(at: Events.at(13), service: .packet, family: "conficker", name: "x.example")],
                             into: &dedup), node: "n1", run: run)
        #expect(try probe.rows(query) == [[
            .integer(1), .integer(4), .text("http"), .text("rustock"), .text("c2.example"),
            .integer(Events.at(10).microseconds), .integer(Events.at(13).microseconds),
        ]])
    }

    @Test("a checkins row stores the whole 5-tuple, transport, service and DNS fields", arguments: StoreKind.allCases)
    func checkinColumns(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "edge-1", startedAt: Events.at(0))
        var event = Events.session(at: Events.at(10, micros: 42), service: .udp, transport: .udp,
                                   source: "2001:db8:0:0:1::7", sourcePort: 65535,
                                   destination: "198.51.100.10", destinationPort: 7, family: "conficker")
        event.name = BoundedBytes([UInt8](repeating: 0x61, count: 300))
        event.dnsType = 16
        event.dnsRcode = CheckIn.noResponse
        let batch = fold([event])
        try store.write(batch, node: "edge-1", run: run)

        let probe = try fixture.probe()
        let rows = try probe.rows("""
            SELECT node, event_id, first_seen, last_seen, count, transport, service, family, src_ip, src_port,
                   dst_ip, dst_port, length(name), name_truncated, dns_type, dns_rcode FROM checkins
            """)
        #expect(rows == [[
            .text("edge-1"), .text(batch.checkIns[0].eventID), .integer(Events.at(10, micros: 42).microseconds),
            .integer(Events.at(10, micros: 42).microseconds), .integer(1), .text("udp"), .text("udp"),
            .text("conficker"), .text("2001:db8::1:0:0:7"), .integer(65535), .text("198.51.100.10"), .integer(7),
            .integer(255), .integer(1), .integer(16), .integer(255),
        ]])
    }

    static let names: [(bytes: [UInt8], type: String)] = [
        (Array("c2.example".utf8), "text"),
        (Array("bücher.example".utf8), "text"),
        ([0x63, 0x32, 0xFF, 0xFE, 0x2E, 0x65], "blob"),             // not UTF-8 at all
        ([0x61, 0xC3], "blob"),                                     // cut inside a sequence
        ([0xED, 0xA0, 0x80], "blob"),                               // an encoded surrogate
        ([0xC0, 0xAF], "blob"),                                     // overlong '/'
        ([0x61, 0x00, 0x62], "text"),                               // NUL is valid UTF-8
    ]

    @Test("names are stored byte for byte: valid UTF-8 as TEXT, anything else as a BLOB", arguments: names)
    func namesStoredExactly(bytes: [UInt8], type: String) throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        // Lowercase already, so the DNS row's folded qname is the same bytes.
        try store.write(fold([Events.session(at: Events.at(10), nameBytes: bytes),
                              Events.dns(at: Events.at(10), qnameBytes: bytes)]), node: "n1", run: run)

        let probe = try DatabaseProbe(dir)
        for (table, column) in [("checkins", "name"), ("dns_queries", "qname")] {
            let rows = try probe.rows("SELECT typeof(\(column)), CAST(\(column) AS BLOB), length(CAST(\(column) AS BLOB)) FROM \(table)")
            #expect(rows.count == 1)
            #expect(rows.first?[0] == .text(type), "\(table).\(column)")
            #expect(rows.first?[1] == .blob(bytes), "\(table).\(column)")
            #expect(rows.first?[2] == .integer(Int64(bytes.count)), "\(table).\(column)")
        }
    }

    @Test("two store instances on one file (two nodes) merge summaries and keep each node's checkins", arguments: StoreKind.allCases)
    func twoNodesOneFile(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let a = try fixture.open()
        let b = try fixture.open()
        let runA = try a.beginRun(node: "node-a", startedAt: Events.at(0))
        let runB = try b.beginRun(node: "node-b", startedAt: Events.at(0))
        #expect(runA != runB)

        // Both nodes see the same bot at the same instant: identical event ids.
        let events = [Events.session(at: Events.at(10)), Events.dns(at: Events.at(10), rcode: 0)]
        var batchA = fold(events)
        batchA.counters = RunCounters(offered: 2, stored: 2, dropped: 0)
        try a.write(batchA, node: "node-a", run: runA)
        var batchB = fold(events + [Events.dns(at: Events.at(20), rcode: 3)])
        batchB.counters = RunCounters(offered: 4, stored: 3, dropped: 1)
        try b.write(batchB, node: "node-b", run: runB)
        a.close()
        b.close()

        let probe = try fixture.probe()
        #expect(try probe.rows("SELECT node, event_id, count FROM checkins ORDER BY node") == [
            [.text("node-a"), .text(batchA.checkIns[0].eventID), .integer(1)],
            [.text("node-b"), .text(batchA.checkIns[0].eventID), .integer(1)],
        ])
        #expect(try probe.rows("SELECT count FROM infections") == [[.integer(2)]])
        #expect(try probe.rows("SELECT count, first_seen, last_seen, last_rcode FROM dns_queries") == [[
            .integer(3), .integer(Events.at(10).microseconds), .integer(Events.at(20).microseconds), .integer(3),
        ]])
        #expect(try probe.rows("SELECT node, name, value FROM counters ORDER BY node, name") == [
            [.text("node-a"), .text("offered"), .integer(2)],
            [.text("node-a"), .text("stored"), .integer(2)],
            [.text("node-b"), .text("dropped"), .integer(1)],
            [.text("node-b"), .text("offered"), .integer(4)],
            [.text("node-b"), .text("stored"), .integer(3)],
        ])
        #expect(try probe.integrity() == "ok")
    }

    @Test("a second run on the same file merges with the first run's rows", arguments: StoreKind.allCases)
    func secondRunMerges(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        for (run, port) in [(Int64(1), UInt16(1000)), (2, 2000)] {
            let store = try fixture.open()
            #expect(try store.beginRun(node: "n1", startedAt: Events.at(run * 1000)) == run)
            try store.write(fold([Events.session(at: Events.at(run * 1000), sourcePort: port),
                                  Events.dns(at: Events.at(run * 1000))]), node: "n1", run: run)
            store.close()
        }
        let probe = try fixture.probe()
        #expect(try probe.integer("SELECT count(*) FROM checkins WHERE node = 'n1'") == 2)
        #expect(try probe.rows("SELECT count, last_src_port, first_seen FROM infections")
                == [[.integer(2), .integer(2000), .integer(Events.at(1000).microseconds)]])
        #expect(try probe.rows("SELECT count, first_seen, last_seen FROM dns_queries")
                == [[.integer(2), .integer(Events.at(1000).microseconds), .integer(Events.at(2000).microseconds)]])
    }
}

@Suite("Stores (SQLite and PostgreSQL): a capture replayed twice")
struct StoreReplayTwiceTests {
    @Test("sessions stored again under their stored keys merge: one row each, counts added, detail kept; new ones in the same batch are stored",
          arguments: StoreKind.allCases)
    func replayedSessionsMerge(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        let first = [Events.session(at: Events.at(10), sourcePort: 1, name: "c2.example"),
                     Events.session(at: Events.at(11), service: .packet, sourcePort: 2, family: "")]
        // A replay's deduplicator starts empty: its sessions open again, under the same event ids.
        try store.write(fold(first), node: "n1", run: run)
        let again = fold(first + [Events.session(at: Events.at(12), sourcePort: 3)])
        #expect(again.checkIns.map(\.opensSession) == [true, true, true])
        try store.write(again, node: "n1", run: run)

        let probe = try fixture.probe()
        #expect(try probe.rows("SELECT src_port, count, service, family, first_seen FROM checkins ORDER BY src_port") == [
            [.integer(1), .integer(2), .text("http"), .text("rustock"), .integer(Events.at(10).microseconds)],
            [.integer(2), .integer(2), .text("packet"), .text(""), .integer(Events.at(11).microseconds)],
            [.integer(3), .integer(1), .text("http"), .text("rustock"), .integer(Events.at(12).microseconds)],
        ])
        #expect(try probe.rows("SELECT name FROM checkins WHERE src_port = 1") == [[.text("c2.example")]])
        #expect(try probe.integrity() == "ok")

        // A replay large enough that the store is still receiving when it meets the stored
        // keys (the first two rows), and the store usable for the next batch.
        let many = (0..<2000).map { Events.session(at: Events.at(13), sourcePort: UInt16(10_000 + $0)) }
        try store.write(fold(first + many), node: "n1", run: run)
        try store.write(fold([Events.session(at: Events.at(14), sourcePort: 4)]), node: "n1", run: run)
        #expect(try probe.rows("SELECT count(*), sum(count) FROM checkins") == [[.integer(2004), .integer(2008)]])
    }
}

@Suite("SQLiteStore: atomic batches")
struct SQLiteStoreAtomicityTests {
    @Test("a write that fails part-way stores none of the batch, and the same batch retried is stored once")
    func failedWriteRollsBack() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var first = fold([Events.session(at: Events.at(1)), Events.dns(at: Events.at(1))])
        first.counters = RunCounters(offered: 2, stored: 2, dropped: 0)
        try store.write(first, node: "n1", run: run)

        // dns_queries rows are written after checkins and infections rows: make them fail.
        let probe = try DatabaseProbe(dir)
        _ = try probe.rows("""
            CREATE TRIGGER injected_failure BEFORE INSERT ON dns_queries
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        var second = fold([Events.session(at: Events.at(10), sourcePort: 2), Events.session(at: Events.at(11)),
                           Events.dns(at: Events.at(12), qname: "new.example")], into: &dedup)
        second.counters = RunCounters(offered: 6, stored: 5, dropped: 1)
        second.finishedAt = Events.at(20)
        let snapshot = """
            SELECT (SELECT count(*) || '/' || sum(count) FROM checkins), (SELECT sum(count) FROM infections),
                   (SELECT count(*) FROM dns_queries), (SELECT offered || '/' || stored || '/' || dropped || '/' ||
                   coalesce(stopped_at, 'null') FROM runs), (SELECT group_concat(name || '=' || value) FROM counters)
            """
        let before = try probe.rows(snapshot)
        #expect(throws: SQLiteError.self) { try store.write(second, node: "n1", run: run) }
        #expect(try probe.rows(snapshot) == before)

        _ = try probe.rows("DROP TRIGGER injected_failure")
        try store.write(second, node: "n1", run: run)
        #expect(try probe.rows("SELECT count(*), sum(count) FROM checkins") == [[.integer(3), .integer(3)]])
        #expect(try probe.rows("SELECT sum(count) FROM infections") == [[.integer(3)]])
        #expect(try probe.rows("SELECT count(*), sum(count) FROM dns_queries") == [[.integer(2), .integer(2)]])
        #expect(try probe.rows("SELECT offered, stored, dropped, stopped_at FROM runs")
                == [[.integer(6), .integer(5), .integer(1), .integer(Events.at(20).microseconds)]])
        #expect(try probe.rows("SELECT name, value FROM counters ORDER BY name")
                == [[.text("dropped"), .integer(1)], [.text("offered"), .integer(6)], [.text("stored"), .integer(5)]])
        #expect(try probe.text("PRAGMA integrity_check") == "ok")
    }
}

@Suite("Stores (SQLite and PostgreSQL): runs and counters")
struct SQLiteStoreRunTests {
    @Test("the runs row takes each batch's counters and the finish time of the last", arguments: StoreKind.allCases)
    func runsRow(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(5))
        let probe = try fixture.probe()
        let query = "SELECT node, started_at, stopped_at, offered, stored, dropped FROM runs WHERE run_id = \(run)"
        #expect(try probe.rows(query) == [[.text("n1"), .integer(Events.at(5).microseconds), .null,
                                           .integer(0), .integer(0), .integer(0)]])

        var batch = fold([Events.dns(at: Events.at(10))])
        batch.counters = RunCounters(offered: 3, stored: 1, dropped: 2)
        try store.write(batch, node: "n1", run: run)
        #expect(try probe.rows(query) == [[.text("n1"), .integer(Events.at(5).microseconds), .null,
                                           .integer(3), .integer(1), .integer(2)]])

        var last = StoreBatch()
        last.counters = RunCounters(offered: 9, stored: 6, dropped: 3)
        last.finishedAt = Events.at(60)
        try store.write(last, node: "n1", run: run)
        #expect(try probe.rows(query) == [[.text("n1"), .integer(Events.at(5).microseconds),
                                           .integer(Events.at(60).microseconds), .integer(9), .integer(6), .integer(3)]])
    }

    @Test("the counters table accumulates each batch's delta per node, across runs", arguments: StoreKind.allCases)
    func countersAccumulate(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        let probe = try fixture.probe()
        func counters() throws -> [String: Int64] {
            var out: [String: Int64] = [:]
            for row in try probe.rows("SELECT node, name, value FROM counters") {
                guard case .text(let node) = row[0], case .text(let name) = row[1], case .integer(let value) = row[2]
                else { continue }
                out["\(node).\(name)"] = value
            }
            return out
        }

        let run1 = try store.beginRun(node: "a", startedAt: Events.at(0))
        for (offered, stored, dropped) in [(10, 8, 2), (15, 12, 3), (15, 12, 3)] {
            var batch = StoreBatch()
            batch.counters = RunCounters(offered: offered, stored: stored, dropped: dropped)
            try store.write(batch, node: "a", run: run1)
        }
        #expect(try counters() == ["a.offered": 15, "a.stored": 12, "a.dropped": 3])

        // A new run starts its own totals from zero; the node's counters keep adding.
        let run2 = try store.beginRun(node: "a", startedAt: Events.at(100))
        var batch = StoreBatch()
        batch.counters = RunCounters(offered: 5, stored: 5, dropped: 0)
        try store.write(batch, node: "a", run: run2)
        let runB = try store.beginRun(node: "b", startedAt: Events.at(100))
        batch.counters = RunCounters(offered: 7, stored: 4, dropped: 3)
        try store.write(batch, node: "b", run: runB)
        store.close()

        #expect(try counters() == ["a.offered": 20, "a.stored": 17, "a.dropped": 3,
                                   "b.offered": 7, "b.stored": 4, "b.dropped": 3])
        #expect(try probe.rows("SELECT run_id, offered, stored, dropped FROM runs ORDER BY run_id") == [
            [.integer(run1), .integer(15), .integer(12), .integer(3)],
            [.integer(run2), .integer(5), .integer(5), .integer(0)],
            [.integer(runB), .integer(7), .integer(4), .integer(3)],
        ])
        #expect(try probe.integrity() == "ok")
    }
}

/// Migration 1's tables as released, to build a database an older sinkhole left behind.
enum SQLiteSchemaVersion1 {
    static let statements = [
        """
        CREATE TABLE dns_queries (hour INTEGER NOT NULL, src_ip TEXT NOT NULL, qname TEXT NOT NULL,
            qname_truncated INTEGER NOT NULL, qtype INTEGER NOT NULL, count INTEGER NOT NULL,
            first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_rcode INTEGER NOT NULL,
            family TEXT NOT NULL, PRIMARY KEY (hour, src_ip, qname, qname_truncated, qtype)) WITHOUT ROWID
        """,
        """
        CREATE TABLE checkins (node TEXT NOT NULL, event_id TEXT NOT NULL, first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL, count INTEGER NOT NULL, transport TEXT NOT NULL, service TEXT NOT NULL,
            family TEXT NOT NULL, src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL,
            dst_port INTEGER NOT NULL, name TEXT NOT NULL, name_truncated INTEGER NOT NULL,
            dns_type INTEGER NOT NULL, dns_rcode INTEGER NOT NULL, PRIMARY KEY (node, event_id)) WITHOUT ROWID
        """,
        "CREATE INDEX checkins_first_seen ON checkins (first_seen)",
        """
        CREATE TABLE infections (day TEXT NOT NULL, src_ip TEXT NOT NULL, family TEXT NOT NULL,
            first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
            last_src_port INTEGER NOT NULL, PRIMARY KEY (day, src_ip, family)) WITHOUT ROWID
        """,
        "CREATE TABLE counters (node TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (node, name)) WITHOUT ROWID",
        """
        CREATE TABLE runs (run_id INTEGER PRIMARY KEY, node TEXT NOT NULL, started_at INTEGER NOT NULL,
            stopped_at INTEGER, offered INTEGER NOT NULL DEFAULT 0, stored INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0)
        """,
    ]
}
