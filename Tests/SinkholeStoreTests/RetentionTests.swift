import Foundation
import SinkholeCore
@testable import SinkholeStore
import Testing

/// `store.retention_days`: what each table keeps, deleted in bounded steps between the
/// writer's batches, hourly.
@Suite("Retention: old rows deleted in small steps, hourly, between batches")
struct RetentionTests {
    /// Day 0 (Events.base) to day 40: check-ins and DNS every 10 days, from a new source each.
    static func fill(_ store: SQLiteStore) throws {
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var events: [CheckIn] = []
        for day in stride(from: 0, through: 40, by: 10) {
            let t = Events.at(Int64(day) * 86_400 + 3_600)
            events.append(Events.session(at: t, source: "203.0.113.\(day + 1)", family: "rustock", name: "cc.rustock.example"))
            events.append(Events.dns(at: t, source: "198.51.100.\(day + 1)", qname: "q\(day).rustock.example", family: "rustock"))
        }
        var batch = fold(events)
        batch.counters = RunCounters(offered: events.count, stored: events.count, dropped: 0)
        try store.write(batch, node: "n1", run: run)
    }

    static let retention = Retention(checkinsDays: 15, infectionsDays: 25, dnsQueriesDays: 5)
    /// Day 40, 12:00.
    static let now = Events.at(40 * 86_400 + 43_200)

    static func expectSwept(_ probe: DatabaseProbe) throws {
        // Check-ins 15 days: days 30 and 40 stay. DNS 5 days: day 40 only. Infections 25 days
        // (from the cutoff day's midnight): days 20, 30, 40; service and name summaries too.
        #expect(try probe.texts("SELECT src_ip FROM checkins ORDER BY first_seen") == ["203.0.113.31", "203.0.113.41"])
        #expect(try probe.texts("SELECT src_ip FROM dns_queries") == ["198.51.100.41"])
        #expect(try probe.texts("SELECT src_ip FROM resolver_hours") == ["198.51.100.41"])
        #expect(try probe.texts("SELECT day FROM infections ORDER BY day") == ["2024-03-30", "2024-04-09", "2024-04-19"])
        #expect(try probe.texts("SELECT day FROM infection_days ORDER BY day") == ["2024-03-30", "2024-04-09", "2024-04-19"])
        #expect(try probe.integer("SELECT count(DISTINCT hour) FROM service_hours") == 3)
        #expect(try probe.integer("SELECT count(*) FROM name_hours") == 3)
        // The run and its counters are never swept: they prove what a run stored.
        #expect(try probe.integer("SELECT count(*) FROM runs") == 1)
        #expect(try probe.integer("SELECT count(*) FROM counters") == 2)
    }

    @Test("each table keeps its days; a step deletes at most its limit, and steps end with 0")
    func storeSteps() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        try Self.fill(store)
        var steps: [Int] = []
        for _ in 0..<100 {  // bounded
            let deleted = try store.enforceRetention(Self.retention, now: Self.now, limit: 2)
            steps.append(deleted)
            if deleted == 0 { break }
        }
        #expect(steps.last == 0)
        #expect(steps.dropLast().allSatisfy { (1...2).contains($0) }, "\(steps)")
        // 3 check-ins, 4 DNS rows, 4 resolver rows, 2 infections and their 2 days, 2 + 2
        // service hours, 2 names.
        let expected = 3 + 4 + 4 + 2 + 2 + 4 + 2
        #expect(steps.reduce(0, +) == expected, "\(steps)")
        try Self.expectSwept(try DatabaseProbe(dir))
        // Nothing more to do until time moves on.
        #expect(try store.enforceRetention(Self.retention, now: Self.now, limit: 2) == 0)
    }

    @Test("a step finds its rows by a range of the table's whole key, never by scanning its oldest hour or day",
          arguments: SQLiteStore.keyedRetention.map(\.table))
    func stepsUseTheWholeKey(table: String) throws {
        let dir = try TemporaryDirectory()
        try SQLiteStore(path: dir.path()).close()
        let keyed = try #require(SQLiteStore.keyedRetention.first { $0.table == table })
        let probe = try DatabaseProbe(dir)
        let plan = try probe.rows("EXPLAIN QUERY PLAN \(keyed.deleteUpToSQL)").compactMap { row -> String? in
            if case .text(let detail) = row.last { detail } else { nil }
        }
        // `((hour,src_ip,...)<(?,...))`: the key range, not `(hour=?)` or `(hour<?)`.
        #expect(plan == ["SEARCH \(table) USING PRIMARY KEY ((\(keyed.key.joined(separator: ",")))<(\(keyed.key.map { _ in "?" }.joined(separator: ","))))"],
                "\(plan)")
    }

    @Test("a check-in whose session began before the cutoff but went on within it is kept, with its whole count")
    func longSessionKept() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        // A bot beaconing over UDP every 100 s from one port since day 0: one session (each
        // event within the window of the last), its row last seen on day 40, today.
        let beacons = stride(from: Int64(0), through: 40 * 86_400, by: 100).map {
            Events.session(at: Events.at($0 + 3_600), service: .udp, transport: .udp, source: "203.0.113.200")
        }
        var batch = fold(beacons)
        try #require(batch.checkIns.count == 1)
        batch.counters = RunCounters(offered: beacons.count, stored: beacons.count, dropped: 0)
        try store.write(batch, node: "n1", run: run)
        while try store.enforceRetention(Self.retention, now: Self.now, limit: 2) > 0 {}
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT count, last_seen FROM checkins WHERE src_ip = '203.0.113.200'")
                == [[.integer(Int64(beacons.count)), .integer(Events.at(40 * 86_400 + 3_600).microseconds)]])
    }

    @Test("0 days keeps a table (and what goes with it) forever")
    func zeroKeepsForever() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        try Self.fill(store)
        let forever = Retention(checkinsDays: 0, infectionsDays: 0, dnsQueriesDays: 0)
        #expect(try store.enforceRetention(forever, now: Self.now, limit: 100) == 0)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 5)
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 5)
        #expect(try probe.integer("SELECT count(*) FROM infections") == 5)
        // One table kept, the others swept.
        let some = Retention(checkinsDays: 0, infectionsDays: 25, dnsQueriesDays: 5)
        for _ in 0..<100 where try store.enforceRetention(some, now: Self.now, limit: 100) > 0 {}
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 5)
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 1)
        #expect(try probe.integer("SELECT count(*) FROM infections") == 3)
    }

    @Test("the writer sweeps between batches, in steps, and again an hour later, not before")
    func writerSweepsHourly() throws {
        let clock = FakeClock(Self.now)
        let h = try WriterHarness(batchSize: 4, clock: clock, retention: Self.retention, retentionStepRows: 3)
        try Self.fill(h.sqlite)
        // Batches keep committing while the sweep goes on: a push between sweep steps is
        // committed by the next due batch.
        var passes = 0
        while try h.probe().integer("SELECT count(*) FROM dns_queries WHERE hour < \(Events.at(35 * 86_400).seconds)")! > 0
                && passes < 50 {
            _ = h.writer.pass()
            passes += 1
        }
        #expect(passes >= 3, "3 old check-ins, then 4 DNS rows in steps of 3: several passes")
        for _ in 0..<20 { _ = h.writer.pass() }
        try Self.expectSwept(try h.probe())

        // New old rows (a replayed capture of last month, say) wait for the next sweep.
        let run = try h.sqlite.beginRun(node: "n2", startedAt: Self.now)
        var old = fold([Events.session(at: Events.at(86_400), source: "203.0.113.99", sourcePort: 1)])
        old.counters = RunCounters(offered: 1, stored: 1, dropped: 0)
        try h.sqlite.write(old, node: "n2", run: run)
        clock.advance(by: .seconds(3_000))
        for _ in 0..<5 { _ = h.writer.pass() }
        #expect(try h.probe().integer("SELECT count(*) FROM checkins WHERE src_ip = '203.0.113.99'") == 1)
        clock.advance(by: .seconds(700))
        for _ in 0..<5 { _ = h.writer.pass() }
        #expect(try h.probe().integer("SELECT count(*) FROM checkins WHERE src_ip = '203.0.113.99'") == 0)
    }

    @Test("a failing sweep is given up until the next hour, and batches still commit")
    func failingSweep() throws {
        let clock = FakeClock(Self.now)
        // The first store call fails: it is the first sweep step.
        let h = try WriterHarness(batchSize: 4, clock: clock, retention: Self.retention,
                                  wrap: { FlakyStore($0, fails: { $0 == 1 }) })
        try Self.fill(h.sqlite)
        _ = h.writer.pass()  // the sweep's first step fails
        h.push(3, into: h.first)
        clock.advance(by: .seconds(2))
        _ = h.writer.pass()
        _ = h.writer.pass()
        #expect(h.writer.committedCounters.stored == 3)
        #expect(try h.probe().integer("SELECT count(*) FROM checkins WHERE first_seen < \(Events.at(25 * 86_400).microseconds)")! > 0,
                "no second try within the hour")
        clock.advance(by: .seconds(3_600))
        for _ in 0..<30 { _ = h.writer.pass() }
        #expect(try h.probe().integer("SELECT count(*) FROM checkins WHERE first_seen < \(Events.at(25 * 86_400).microseconds)") == 0)
    }
}
