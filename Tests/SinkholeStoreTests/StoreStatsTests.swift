import Foundation
import PostgresTestSupport
import SinkholeCore
@testable import SinkholeStore
import Testing

/// `sinkhole stats` below the command line: the hourly summaries the writer keeps, their
/// backfill when an older store upgrades, the queries, `--since` and the two renderings.
@Suite("Store statistics: summaries, queries, rendering")
struct StoreStatsTests {
    /// Two HTTP sessions (one with two events), a TLS one, three DNS queries from two
    /// resolvers, over two hours of one day and the next day.
    static let events: [CheckIn] = [
        Events.session(at: Events.at(60), source: "203.0.113.7", sourcePort: 40_000, family: "rustock", name: "CC.Rustock.example"),
        Events.session(at: Events.at(61), source: "203.0.113.7", sourcePort: 40_000, family: "rustock", name: "cc.rustock.example"),
        Events.session(at: Events.at(3_700), source: "203.0.113.8", sourcePort: 40_001, family: "rustock", name: "cc.rustock.example"),
        Events.session(at: Events.at(3_800), service: .tls, source: "203.0.113.9", sourcePort: 40_002, destinationPort: 443,
                       family: "conficker", name: "x.conficker.example"),
        Events.session(at: Events.at(90_000), source: "203.0.113.7", sourcePort: 40_003, family: "rustock", name: ""),
        Events.dns(at: Events.at(100), source: "198.51.100.53", qname: "Q1.conficker.example", family: "conficker"),
        Events.dns(at: Events.at(200), source: "198.51.100.53", qname: "q1.conficker.example", family: "conficker"),
        Events.dns(at: Events.at(300), source: "198.51.100.54", qname: "www.example.com", rcode: 5, family: ""),
    ]

    /// The report's time: midnight after the first events, so the DNS names' last 24 h
    /// cover them.
    static let now = Events.at(86_400)

    @Test("the deduplicator sums events and new sessions per hour, service and family, C&C names per session, queries per resolver")
    func summaryFromTheDeduplicator() {
        let summary = fold(Self.events).summary
        let hour0 = Events.at(0).seconds
        let hour1 = hour0 + 3600
        let day1 = hour0 + 90_000  // 01:00 on the next day
        func service(_ hour: Int64, _ service: CheckIn.Service, _ family: String) -> ServiceHourRow? {
            summary.services[ServiceHourKey(hour: hour, service: service, family: BoundedBytes(family))]
        }
        #expect(service(hour0, .http, "rustock") == ServiceHourRow(events: 2, sessions: 1))
        #expect(service(hour1, .http, "rustock") == ServiceHourRow(events: 1, sessions: 1))
        #expect(service(hour1, .tls, "conficker") == ServiceHourRow(events: 1, sessions: 1))
        #expect(service(day1, .http, "rustock") == ServiceHourRow(events: 1, sessions: 1))
        #expect(service(hour0, .dns, "conficker") == ServiceHourRow(events: 2, sessions: 0))
        #expect(service(hour0, .dns, "") == ServiceHourRow(events: 1, sessions: 0))
        #expect(summary.services.count == 6)
        // Names once per session, folded to lowercase; a session with no name adds none.
        #expect(summary.names[NameHourKey(hour: hour0, family: BoundedBytes("rustock"), name: BoundedBytes("cc.rustock.example"))] == 1)
        #expect(summary.names[NameHourKey(hour: hour1, family: BoundedBytes("rustock"), name: BoundedBytes("cc.rustock.example"))] == 1)
        #expect(summary.names.count == 3)
        #expect(summary.resolvers[ResolverHourKey(hour: hour0, source: Events.address("198.51.100.53"))] == 2)
        #expect(summary.resolvers[ResolverHourKey(hour: hour0, source: Events.address("198.51.100.54"))] == 1)
        #expect(summary.resolvers.count == 2)
    }

    /// Writes `batches` as node `n1` (offered 3 more than stored, 3 dropped) and returns the
    /// store, closed.
    @discardableResult
    static func store(_ kind: StoreKind, batches: [[CheckIn]], node: String = "n1", into existing: StoreUnderTest? = nil) throws -> StoreUnderTest {
        let under = try existing ?? StoreUnderTest(kind)
        let store = try under.open()
        defer { store.close() }
        let run = try store.beginRun(node: node, startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        var stored = 0
        for events in batches {
            var batch = fold(events, into: &dedup)
            stored += events.count
            batch.counters = RunCounters(offered: stored + 3, stored: stored, dropped: 3)
            try store.write(batch, node: node, run: run)
        }
        return under
    }

    /// What `sinkhole stats` reads from the store, by the reader of its kind.
    static func read(_ under: StoreUnderTest, since: UTCTime = Events.at(0), family: String? = nil, limit: Int = 10,
                     now: UTCTime = Self.now) throws -> StoreStats {
        switch under.kind {
        case .sqlite: try SQLiteStats.read(path: under.path, since: since, family: family, limit: limit, now: now)
        case .postgres: try PostgresStats.read(location: under.location, since: since, family: family, limit: limit, now: now)
        }
    }

    static func expectTheEvents(_ stats: StoreStats) {
        #expect(stats.infectedPerDay.map { "\($0.day) \($0.family) \($0.addresses)" }
                == ["2024-03-10 conficker 1", "2024-03-10 rustock 2", "2024-03-11 rustock 1"])
        #expect(stats.services.map { "\($0.service) \($0.events) \($0.sessions)" } == ["http 4 3", "dns 3 0", "tls 1 1"])
        #expect(stats.topNames.map { "\($0.family) \($0.name) \($0.count)" }
                == ["rustock cc.rustock.example 2", "conficker x.conficker.example 1"])
        #expect(stats.topQueryNames.map { "\($0.family) \($0.name) \($0.count)" } == ["conficker q1.conficker.example 2"])
        #expect(stats.topResolvers.map { "\($0.address) \($0.queries)" } == ["198.51.100.53 2", "198.51.100.54 1"])
    }

    @Test("stats read back exactly what was written, with rows split over batches adding up", arguments: StoreKind.allCases)
    func readsWhatWasWritten(kind: StoreKind) throws {
        // Split mid-session: the second batch's delta row must not count a second session.
        let under = try Self.store(kind, batches: [Array(Self.events.prefix(1)), Array(Self.events.dropFirst())])
        let stats = try Self.read(under)
        Self.expectTheEvents(stats)
        #expect(stats.nodes == [.init(node: "n1", offered: 11, stored: 8, dropped: 3)])
        #expect(stats.anyDropped)
    }

    @Test("an address is counted once per day and family, however many sessions and batches it comes back in", arguments: StoreKind.allCases)
    func addressesCountedOnce(kind: StoreKind) throws {
        let bot = { (t: Int64, port: UInt16) in Events.session(at: Events.at(t), source: "203.0.113.7", sourcePort: port, family: "rustock") }
        // New sessions of one bot in three batches, a second bot in the last, and the first
        // bot under another family.
        let under = try Self.store(kind, batches: [[bot(10, 1)], [bot(500, 2), bot(600, 3)],
                                                   [bot(900, 4), Events.session(at: Events.at(901), source: "203.0.113.8", family: "rustock"),
                                                    Events.session(at: Events.at(902), source: "203.0.113.7", sourcePort: 5, family: "necurs")]])
        let stats = try Self.read(under)
        #expect(stats.infectedPerDay.map { "\($0.family) \($0.addresses)" } == ["necurs 1", "rustock 2"])
        let probe = try under.probe()
        #expect(try probe.integer("SELECT count FROM infections WHERE src_ip = '203.0.113.7' AND family = 'rustock'") == 4)
    }

    @Test("a capture engine's packet session that a responder's event enriches is summarised as its row is stored: the responder's service, family and name", arguments: StoreKind.allCases, [false, true])
    func enrichedSessionFollowsItsRow(kind: StoreKind, acrossBatches: Bool) throws {
        // The SYN seen by the capture engine (no family, no name), then the HTTP responder's
        // event of the same connection naming a seized Host: one row, service http, family
        // rustock, name cc.rustock.example; in one batch, or the second as a delta row.
        let packet = Events.session(at: Events.at(60), service: .packet, family: "", name: "")
        let http = Events.session(at: Events.at(61), family: "rustock", name: "CC.Rustock.example")
        let under = try Self.store(kind, batches: acrossBatches ? [[packet], [http]] : [[packet, http]])
        let probe = try under.probe()
        #expect(try probe.rows("SELECT service, family, name, count FROM checkins")
                == [[.text("http"), .text("rustock"), .text("CC.Rustock.example"), .integer(2)]])
        let stats = try Self.read(under)
        // Events stay under the service that saw them; the one session is the row's.
        #expect(stats.services.map { "\($0.service) \($0.events) \($0.sessions)" } == ["http 1 1", "packet 1 0"])
        #expect(stats.topNames.map { "\($0.family) \($0.name) \($0.count)" } == ["rustock cc.rustock.example 1"])
        #expect(stats.infectedPerDay.map { "\($0.day) \($0.family) \($0.addresses)" } == ["2024-03-10 rustock 1"])
        let rustock = try Self.read(under, family: "rustock")
        #expect(rustock.services.map { "\($0.service) \($0.events) \($0.sessions)" } == ["http 1 1"])
    }

    @Test("--since and --family narrow every section but the node counters; limit caps the top lists", arguments: StoreKind.allCases)
    func narrowing(kind: StoreKind) throws {
        let under = try Self.store(kind, batches: [Self.events])
        let nextDay = try Self.read(under, since: Events.at(86_400))
        #expect(nextDay.infectedPerDay.map(\.day) == ["2024-03-11"])
        #expect(nextDay.services.map { "\($0.service) \($0.events)" } == ["http 1"])
        #expect(nextDay.topQueryNames.isEmpty && nextDay.topResolvers.isEmpty && nextDay.topNames.isEmpty)
        // Mid-hour: the whole hour counts (summaries are hourly).
        let midHour = try Self.read(under, since: Events.at(3_650))
        #expect(midHour.services.map { "\($0.service) \($0.events)" } == ["http 2", "tls 1"])
        let conficker = try Self.read(under, family: "conficker")
        #expect(conficker.infectedPerDay.map(\.family) == ["conficker"])
        #expect(conficker.services.map { "\($0.service) \($0.events)" } == ["dns 2", "tls 1"])
        #expect(conficker.topNames.map(\.name) == ["x.conficker.example"])
        #expect(conficker.topResolvers.count == 2, "resolvers are not split by family")
        let one = try Self.read(under, limit: 1)
        #expect(one.topNames.count == 1 && one.topResolvers.count == 1)
        // DNS names over at most the last 24 hours: two days later, none of these.
        let later = try Self.read(under, now: Events.at(3 * 86_400))
        #expect(later.topQueryNames.isEmpty && later.topQueryNamesSince == Events.at(2 * 86_400))
        #expect(later.topResolvers.count == 2, "resolvers come from their summary, over the whole range")
    }

    @Test("a name cut at its bound and a complete name of the same bytes are one C&C name: a batch holding both is stored", arguments: StoreKind.allCases)
    func truncatedNameSharesItsRow(kind: StoreKind) throws {
        // A bot's Host of exactly 255 bytes and a longer one: the summary's keys differ only by
        // the cut flag, which the table does not keep. PostgreSQL refuses a batch that meets a
        // conflict key twice, and the writer would retry that batch forever.
        let exact = String(repeating: "a", count: 251) + ".com"
        let longer = String(repeating: "a", count: 251) + ".com.evil.example"
        let under = try Self.store(kind, batches: [[
            Events.session(at: Events.at(60), sourcePort: 1, name: exact),
            Events.session(at: Events.at(61), sourcePort: 2, name: longer),
        ]])
        let stats = try Self.read(under)
        #expect(stats.topNames.map { "\($0.name) \($0.count)" } == ["\(exact) 2"])
    }

    @Test("a store written before the summaries existed gets them filled when it upgrades", arguments: StoreKind.allCases)
    func backfillOnUpgrade(kind: StoreKind) throws {
        // Mixed-case names: the backfill folds them as the deduplicator does.
        let under = try Self.store(kind, batches: [Self.events])
        // Back to the state of an older sinkhole: no summaries, no migration 8.
        let probe = try under.probe()
        for statement in ["DROP TABLE service_hours", "DROP TABLE name_hours", "DROP TABLE resolver_hours", "DROP TABLE infection_days",
                          "DELETE FROM schema_migrations WHERE version = 8"] {
            _ = try probe.rows(statement)
        }
        #expect(throws: (any Error).self) { try Self.read(under) }
        try under.open().close()
        Self.expectTheEvents(try Self.read(under))
    }

    @Test("two nodes writing one store: summaries are the sums, an address seen by both counts once per day and family", arguments: StoreKind.allCases)
    func twoNodes(kind: StoreKind) throws {
        // Node n2 sees the same bots as n1 (its own sessions), plus one address n1 never saw.
        let under = try Self.store(kind, batches: [Self.events])
        let more = Events.session(at: Events.at(120), source: "203.0.113.20", sourcePort: 41_000, family: "rustock", name: "cc.rustock.example")
        try Self.store(kind, batches: [Array(Self.events.prefix(4)), [more]], node: "n2", into: under)
        let stats = try Self.read(under)
        #expect(stats.infectedPerDay.map { "\($0.day) \($0.family) \($0.addresses)" }
                == ["2024-03-10 conficker 1", "2024-03-10 rustock 3", "2024-03-11 rustock 1"])
        #expect(stats.services.map { "\($0.service) \($0.events) \($0.sessions)" } == ["http 8 6", "dns 3 0", "tls 2 2"])
        #expect(stats.topNames.map { "\($0.family) \($0.name) \($0.count)" }
                == ["rustock cc.rustock.example 5", "conficker x.conficker.example 2"])
        #expect(stats.nodes.map { "\($0.node) \($0.offered) \($0.stored) \($0.dropped)" } == ["n1 11 8 3", "n2 8 5 3"])
    }

    @Test("a file that is not a sinkhole store, or none at all, is a clear error naming it")
    func notAStore() throws {
        let dir = try TemporaryDirectory()
        let missing = dir.path("missing.db")
        let error = try #require(throws: SQLiteError.self) { try SQLiteStats.read(path: missing, since: Events.at(0), family: nil, now: Self.now) }
        #expect(error.description.contains(missing))
        #expect(!FileManager.default.fileExists(atPath: missing), "reading must not create a file")
    }

    @Test("a PostgreSQL database that is not a sinkhole store is a clear error naming it, and stays untouched")
    func postgresNotAStore() throws {
        let cluster = try PostgresCluster.shared()
        let database = try cluster.makeDatabase()
        let location = try PostgresLocation(url: cluster.url(database: database))
        let error = try #require(throws: PostgresStoreError.self) {
            try PostgresStats.read(location: location, since: Events.at(0), family: nil, now: Self.now)
        }
        #expect(error.description.contains("not a sinkhole store") && error.description.contains(database), "\(error)")
        #expect(try PostgresProbe(location).integer("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0)
    }

    @Test("--since: UTC dates, UTC times and ages; anything else is refused")
    func parsingSince() {
        let now = UTCTime(seconds: 1_764_428_400)  // 2025-11-29T15:00:00Z
        #expect(StoreStats.parseSince("2026-11-29", now: now) == UTCTime(seconds: 1_795_910_400))
        #expect(StoreStats.parseSince("2024-02-29", now: now)?.dayString == "2024-02-29")
        #expect(StoreStats.parseSince("2026-11-29T06:30Z", now: now) == UTCTime(seconds: 1_795_910_400 + 6 * 3600 + 30 * 60))
        #expect(StoreStats.parseSince("2026-11-29T06:30:15Z", now: now) == UTCTime(seconds: 1_795_910_400 + 6 * 3600 + 30 * 60 + 15))
        #expect(StoreStats.parseSince("24h", now: now) == UTCTime(seconds: 1_764_428_400 - 86_400))
        #expect(StoreStats.parseSince("90m", now: now) == UTCTime(seconds: 1_764_428_400 - 5_400))
        #expect(StoreStats.parseSince("7d", now: now) == UTCTime(seconds: 1_764_428_400 - 7 * 86_400))
        for bad in ["", "yesterday", "2026-13-01", "2023-02-29", "2026-11-31", "2026-11-29T25:00Z", "2026-11-29T06:30",
                    "2026-11-29T06:61Z", "-5d", "5w", "99999999999999999d", "2026-1-29", "２０２６-11-29"] {
            #expect(StoreStats.parseSince(bad, now: now) == nil, "\(bad)")
        }
    }

    @Test("tables align, group digits, mark lost events and show control characters from the network escaped; JSON is one object")
    func rendering() throws {
        var stats = StoreStats(since: UTCTime(seconds: 1_764_374_400), family: nil)
        stats.infectedPerDay = [.init(day: "2025-11-29", family: "rustock", addresses: 1_234_567)]
        stats.topNames = [.init(family: "rustock", name: "evil\r\n\u{1B}[31m.example\\", count: 3)]
        stats.nodes = [.init(node: "a", offered: 10, stored: 7, dropped: 3)]
        let text = stats.tables()
        #expect(text.contains("  2025-11-29  rustock  1,234,567\n"), "\(text)")
        #expect(text.contains("evil\\x0D\\x0A\\x1B[31m.example\\\\"), "\(text)")
        #expect(!text.contains("\u{1B}") && !text.contains("\r"))
        #expect(text.contains("3  LOST"))
        #expect(text.contains("Check-ins per service\n  (none)\n"))
        let json = stats.json()
        #expect(json.hasSuffix("}\n") && json.split(separator: "\n").count == 1)
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(decoded["since"] as? String == "2025-11-29T00:00:00.000000Z")
        let names = try #require(decoded["top_names"] as? [[String: Any]])
        #expect(names.first?["name"] as? String == "evil\r\n\u{1B}[31m.example\\", "JSON keeps the bytes, escaped by JSON")
    }
}
