import Foundation
import Logging
import SinkholeCore
import SinkholeStore
import Synchronization
import Testing

@Suite("Writer, driven by hand")
struct WriterTests {
    @Test("nothing is committed before batchSize events or flushInterval; either one commits")
    func commitTiming() throws {
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 8, flushInterval: .seconds(1))
        let probe = try h.probe()

        h.push(3, into: h.first)
        #expect(h.writer.pass() == 3)
        #expect(h.writer.committedCounters == RunCounters())
        h.clock.advance(by: .microseconds(999_999))
        #expect(h.writer.pass() == 0)
        #expect(h.writer.committedCounters == RunCounters())
        #expect(try probe.integer("SELECT count(*) FROM runs") == 0)
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 0)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 0)

        // The interval has passed: the three folded events are committed.
        h.clock.advance(by: .microseconds(1))
        #expect(h.writer.pass() == 0)
        #expect(h.writer.committedCounters == RunCounters(offered: 3, stored: 3, dropped: 0))
        #expect(try probe.integer("SELECT sum(count) FROM checkins") == 2)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == 1)
        #expect(try probe.rows("SELECT offered, stored, dropped FROM runs") == [[.integer(3), .integer(3), .integer(0)]])

        // A full batch over both rings commits without the clock moving.
        h.push(4, into: h.first)
        h.push(3, into: h.second)
        #expect(h.writer.pass() == 7)
        #expect(h.writer.committedCounters.stored == 3)
        h.push(1, into: h.second)
        #expect(h.writer.pass() == 1)
        #expect(h.writer.committedCounters == RunCounters(offered: 11, stored: 11, dropped: 0))

        // More than a batch waiting: one pass takes exactly a batch and commits it.
        h.push(6, into: h.first)
        h.push(5, into: h.second)
        #expect(h.writer.pass() == 8)
        #expect(h.writer.committedCounters == RunCounters(offered: 22, stored: 19, dropped: 0))
        #expect(h.rings.totals.inFlight == 3)
        #expect(h.writer.pass() == 3)
        #expect(h.writer.committedCounters.stored == 19)

        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.counters == RunCounters(offered: 22, stored: 22, dropped: 0))
        #expect(outcome.lost == 0)
        #expect(try probe.rows("SELECT offered, stored, dropped, stopped_at FROM runs")
                == [[.integer(22), .integer(22), .integer(0), .integer(h.clock.time.microseconds)]])
    }

    @Test("a batch is bounded by rows: repeats of a pending row fold in without filling it")
    func batchBoundedByRows() throws {
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 4, flushInterval: .seconds(1))
        // 40 queries for one name from one address fold into one row: far more events than the
        // batch size, all drained in one pass, nothing committed before the interval.
        for i in 0..<40 {
            #expect(h.first.push(Events.dns(at: Events.at(7200 + Int64(i)), qname: "same.example")))
        }
        #expect(h.writer.pass() == 40)
        #expect(h.writer.committedCounters == RunCounters())
        // Four distinct rows fill the batch: committed without the clock moving.
        for i in 0..<3 {
            #expect(h.first.push(Events.dns(at: Events.at(7300), qname: "other-\(i).example")))
        }
        #expect(h.writer.pass() == 3)
        #expect(h.writer.committedCounters == RunCounters(offered: 43, stored: 43, dropped: 0))
        let probe = try h.probe()
        #expect(try probe.rows("SELECT count FROM dns_queries WHERE qname = 'same.example'") == [[.integer(40)]])
    }

    @Test("after finish the run holds offered == stored + dropped exactly, with drops from full rings")
    func endToEndWithDrops() throws {
        let h = try WriterHarness(slotsPerRing: 16, batchSize: 32, flushInterval: .seconds(1))
        let probe = try h.probe()

        #expect(h.push(20, into: h.first) == 16)  // 4 dropped
        #expect(h.push(10, into: h.second) == 10)
        #expect(h.writer.pass() == 26)
        #expect(h.writer.committedCounters == RunCounters())
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(h.writer.committedCounters == RunCounters(offered: 30, stored: 26, dropped: 4))

        #expect(h.push(20, into: h.second) == 16)  // 4 more dropped
        #expect(h.push(5, into: h.first) == 5)
        #expect(h.writer.pass() == 21)
        #expect(h.push(16, into: h.first) == 16)
        #expect(h.writer.pass() == 11)  // fills the batch of 32: committed
        #expect(h.writer.committedCounters == RunCounters(offered: 71, stored: 58, dropped: 8))

        // Drops alone, with nothing new to store, still reach the run's counters when due.
        #expect(h.push(30, into: h.second) == 16)  // second ring was empty: 14 dropped
        h.clock.advance(by: .seconds(2))
        h.writer.pass()
        h.writer.pass()
        #expect(h.writer.committedCounters.dropped == 22)

        let outcome = h.writer.finishOnCallerThread()
        let totals = h.rings.totals
        #expect(outcome.lost == 0)
        #expect(totals.inFlight == 0)
        #expect(totals.dropped == 22)
        #expect(outcome.counters == RunCounters(offered: totals.offered, stored: totals.consumed, dropped: totals.dropped))
        #expect(outcome.counters == h.writer.committedCounters)

        let run = try #require(try probe.rows("SELECT offered, stored, dropped, stopped_at FROM runs").first)
        #expect(run == [.integer(Int64(totals.offered)), .integer(Int64(totals.consumed)),
                        .integer(Int64(totals.dropped)), .integer(h.clock.time.microseconds)])
        #expect(totals.offered == totals.consumed + totals.dropped)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == Int64(h.acceptedDNS))
        #expect(try probe.integer("SELECT sum(count) FROM checkins") == Int64(h.acceptedSessions))
        #expect(Int64(h.acceptedDNS + h.acceptedSessions) == Int64(totals.consumed))
        // Every session is labelled, so each checkins row is one counted infection.
        #expect(try probe.integer("SELECT sum(count) FROM infections") == (try probe.integer("SELECT count(*) FROM checkins")))
        // One row per DNS event: each has its own name.
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == Int64(h.acceptedDNS))
        #expect(try probe.rows("SELECT name, value FROM counters WHERE node = 'test-node' ORDER BY name") == [
            [.text("dropped"), .integer(Int64(totals.dropped))],
            [.text("offered"), .integer(Int64(totals.offered))],
            [.text("stored"), .integer(Int64(totals.consumed))],
        ])
        #expect(try probe.text("PRAGMA integrity_check") == "ok")
    }

    @Test("a batch the store refuses is kept, retried with backoff and committed once, nothing lost or doubled")
    func retriesFailingStore() throws {
        let failures = 2
        var flaky: FlakyStore?
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 100, flushInterval: .seconds(1)) { inner in
            let store = FlakyStore(inner, fails: { $0 <= failures })
            flaky = store
            return store
        }
        let store = try #require(flaky)
        let probe = try h.probe()

        h.push(10, into: h.first)
        h.clock.advance(by: .seconds(1))
        #expect(h.writer.pass() == 10)
        #expect(store.attempts == 1)
        #expect(h.writer.committedCounters == RunCounters())

        // While a batch waits, nothing more is drained and no retry happens before the backoff.
        h.push(5, into: h.second)
        #expect(h.writer.pass() == 0)
        #expect(store.attempts == 1)
        #expect(h.rings.totals.inFlight == 5)

        h.clock.advance(by: .milliseconds(100))
        h.writer.pass()
        #expect(store.attempts == 2)  // failed again; the backoff doubles to 200 ms
        h.clock.advance(by: .milliseconds(100))
        h.writer.pass()
        #expect(store.attempts == 2)
        h.clock.advance(by: .milliseconds(100))
        h.writer.pass()
        #expect(store.attempts == 3)
        #expect(h.writer.committedCounters == RunCounters(offered: 10, stored: 10, dropped: 0))

        #expect(h.writer.pass() == 5)
        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.counters == RunCounters(offered: 15, stored: 15, dropped: 0))
        #expect(outcome.lost == 0)
        #expect(store.closed)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == Int64(h.acceptedDNS))
        #expect(try probe.integer("SELECT sum(count) FROM checkins") == Int64(h.acceptedSessions))
        #expect(try probe.rows("SELECT offered, stored, dropped FROM runs") == [[.integer(15), .integer(15), .integer(0)]])
        #expect(try probe.integer("SELECT value FROM counters WHERE name = 'stored'") == 15)
    }

    @Test("a refusing store: batches spill up to spillBatches, then events stay in the rings and drops are counted; all commit in order when it is back")
    func spillWhileTheStoreIsDown() throws {
        var flaky: FlakyStore?
        let h = try WriterHarness(slotsPerRing: 8, batchSize: 4, flushInterval: .seconds(1), spillBatches: 3) { inner in
            let store = FlakyStore(inner, fails: { $0 == 1 })
            flaky = store
            return store
        }
        let store = try #require(flaky)
        let probe = try h.probe()

        // The first batch is refused; two more are formed behind it without a store attempt.
        for _ in 0..<3 {
            #expect(h.push(4, into: h.first) == 4)
            #expect(h.writer.pass() == 4)
        }
        #expect(store.attempts == 1)
        #expect(h.writer.committedCounters == RunCounters())
        // The spill is full: nothing more is drained, the ring fills and drops beyond it.
        let accepted = h.push(12, into: h.first)
        #expect(accepted == 8)
        #expect(h.writer.pass() == 0)
        #expect(h.rings.totals.inFlight == 8)

        // Back: the three batches commit in order, in one pass, each with its own counters.
        h.clock.advance(by: .milliseconds(100))
        #expect(h.writer.pass() == 0)
        #expect(store.attempts == 4)
        #expect(h.writer.committedCounters == RunCounters(offered: 12, stored: 12, dropped: 0))
        // Then the rings again, a batch (four rows) at a time.
        #expect(h.writer.pass() == 4)

        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.lost == 0)
        #expect(outcome.counters == RunCounters(offered: 24, stored: 20, dropped: 4))
        #expect(try probe.integer("SELECT (SELECT sum(count) FROM checkins) + (SELECT sum(count) FROM dns_queries)") == 20)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == Int64(h.acceptedDNS))
        #expect(try probe.rows("SELECT offered, stored, dropped FROM runs") == [[.integer(24), .integer(20), .integer(4)]])
    }

    @Test("a store still refusing at shutdown: every spilled batch's events are reported lost, none stored")
    func spillLostAtShutdown() throws {
        let h = try WriterHarness(slotsPerRing: 16, batchSize: 4, flushInterval: .seconds(1), finalRetryLimit: .zero,
                                  spillBatches: 4) { FlakyStore($0, fails: { _ in true }) }
        for _ in 0..<3 {
            h.push(4, into: h.second)
            h.writer.pass()
        }
        h.push(2, into: h.first)
        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.lost == 14)
        #expect(outcome.counters == RunCounters())
        #expect(try h.probe().integer("SELECT count(*) FROM checkins") == 0)
    }

    @Test("a store that never accepts a write: finish gives up at the retry limit and reports every event lost")
    func alwaysFailingStore() throws {
        var flaky: FlakyStore?
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 8, flushInterval: .seconds(1),
                                  finalRetryLimit: .zero) { inner in
            let store = FlakyStore(inner, fails: { _ in true })
            flaky = store
            return store
        }
        let store = try #require(flaky)
        h.push(7, into: h.first)
        h.push(5, into: h.second)
        h.clock.advance(by: .seconds(1))
        #expect(h.writer.pass() == 8)
        #expect(store.attempts == 1)
        h.push(3, into: h.second)

        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.lost == 15)
        #expect(outcome.counters == RunCounters())
        #expect(store.closed)
        let probe = try h.probe()
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 0)
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 0)
    }

    @Test("a store that fails after some commits: lost is exactly the events not committed")
    func failsAfterFirstCommit() throws {
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 100, flushInterval: .seconds(1),
                                  finalRetryLimit: .zero) { FlakyStore($0, fails: { $0 >= 2 }) }
        h.push(6, into: h.first)
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(h.writer.committedCounters.stored == 6)
        h.push(4, into: h.first)
        h.push(2, into: h.second)
        h.clock.advance(by: .seconds(1))
        h.writer.pass()

        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.lost == 6)
        #expect(outcome.counters == RunCounters(offered: 6, stored: 6, dropped: 0))
        let probe = try h.probe()
        #expect(try probe.rows("SELECT offered, stored, dropped, stopped_at FROM runs")
                == [[.integer(6), .integer(6), .integer(0), .null]])
        #expect(try probe.integer("SELECT (SELECT sum(count) FROM checkins) + (SELECT sum(count) FROM dns_queries)") == 6)
    }

    @Test("the final flush keeps retrying a failing store until it recovers within finalRetryLimit")
    func finalFlushRetries() throws {
        // The clock moves 10 ms on every read, so finish's deadline is reached in clock time.
        var flaky: FlakyStore?
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 100, flushInterval: .seconds(1),
                                  finalRetryLimit: .seconds(10),
                                  clock: FakeClock(tickPerRead: .milliseconds(10))) { inner in
            let store = FlakyStore(inner, fails: { $0 <= 2 })
            flaky = store
            return store
        }
        let store = try #require(flaky)
        h.push(9, into: h.first)
        let outcome = h.writer.finishOnCallerThread()
        #expect(store.attempts == 3)
        #expect(outcome.counters == RunCounters(offered: 9, stored: 9, dropped: 0))
        #expect(outcome.lost == 0)
        let probe = try h.probe()
        #expect(try probe.integer("SELECT stopped_at IS NOT NULL FROM runs") == 1)
        #expect(try probe.integer("SELECT (SELECT sum(count) FROM checkins) + (SELECT sum(count) FROM dns_queries)") == 9)
    }

    @Test("the final flush stops retrying at finalRetryLimit and counts the batch as lost")
    func finalFlushGivesUp() throws {
        var flaky: FlakyStore?
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 100, flushInterval: .seconds(1),
                                  finalRetryLimit: .milliseconds(100),
                                  clock: FakeClock(tickPerRead: .milliseconds(20))) { inner in
            let store = FlakyStore(inner, fails: { _ in true })
            flaky = store
            return store
        }
        let store = try #require(flaky)
        h.push(9, into: h.first)
        let outcome = h.writer.finishOnCallerThread()
        #expect(outcome.lost == 9)
        #expect(store.attempts >= 2)
        #expect(store.closed)
    }

    @Test("the final flush drains every ring into a healthy store however small finalRetryLimit is",
          arguments: [Duration.zero, .milliseconds(100)])
    func finalFlushDrainsHealthyStore(limit: Duration) throws {
        // finalRetryLimit bounds retries of a failing store; here the store never fails, but
        // the backlog is three batches and the clock moves 50 ms per read.
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 4, finalRetryLimit: limit,
                                  clock: FakeClock(tickPerRead: .milliseconds(50)))
        h.push(10, into: h.first)
        h.push(2, into: h.second)
        let outcome = h.writer.finishOnCallerThread()
        let totals = h.rings.totals
        let probe = try h.probe()
        let stored = try probe.integer("SELECT stored FROM runs")
        #expect(outcome.lost == 0)
        #expect(totals.inFlight == 0)
        #expect(outcome.counters == RunCounters(offered: 12, stored: 12, dropped: 0))
        #expect(stored == 12)
        // Whatever it did commit is consistent: offered counts the events it left behind too.
        #expect(outcome.counters.offered == 12)
        #expect(outcome.counters.stored + outcome.lost == 12)
    }

    @Test("a writer driven by hand records its run in the runs table")
    func handDrivenRunIsRecorded() throws {
        // No RunBeginningStore here: a caller driving the writer by hand begins the run itself.
        let dir = try TemporaryDirectory()
        let rings = EventRings<CheckIn>(slotsPerRing: 16, filler: Events.blank)
        let ring = rings.register(name: "r")
        let clock = FakeClock()
        let store = try SQLiteStore(path: dir.path())
        let writer = Writer(configuration: .init(node: "n1", batchSize: 4),
                            rings: rings, store: store, logger: WriterHarness.quiet, clock: clock.read)
        try writer.beginRun()
        for i in 0..<5 { ring.push(Events.dns(at: Events.at(Int64(i)))) }
        let outcome = writer.finishOnCallerThread()
        #expect(outcome.counters == RunCounters(offered: 5, stored: 5, dropped: 0))
        #expect(outcome.lost == 0)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == 5)
        let runs = try probe.rows("SELECT offered, stored, dropped FROM runs")
        #expect(runs == [[.integer(5), .integer(5), .integer(0)]])
    }
}

@Suite("Writer, on its own thread")
struct WriterThreadTests {
    /// Pushes `count` events from a new thread (the ring's single producer) and returns how
    /// many DNS and session events the ring accepted.
    static func produce(_ count: Int, into ring: EventRing<CheckIn>, port: UInt16) async -> (dns: Int, sessions: Int) {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var dns = 0
                var sessions = 0
                for i in 0..<count {
                    let time = Events.at(Int64(i / 10))
                    if i % 4 == 0 {
                        if ring.push(Events.dns(at: time, sourcePort: port, qname: "t\(i % 7).example")) { dns += 1 }
                    } else {
                        // A new source port every event: every check-in is its own session.
                        let event = Events.session(at: time, sourcePort: port &+ UInt16(i), destinationPort: port)
                        if ring.push(event) { sessions += 1 }
                    }
                }
                continuation.resume(returning: (dns, sessions))
            }
            thread.start()
        }
    }

    @Test("start, produce from other threads, stop: the store holds every event exactly once")
    func threaded() async throws {
        let dir = try TemporaryDirectory()
        let rings = EventRings<CheckIn>(slotsPerRing: 1024, filler: Events.blank)
        let a = rings.register(name: "eventloop-0")
        let b = rings.register(name: "eventloop-1")
        let configuration = Writer.Configuration(node: "threaded", batchSize: 256, flushInterval: .milliseconds(20),
                                                 idlePoll: .milliseconds(1), finalRetryLimit: .seconds(5))
        let writer = Writer(configuration: configuration, rings: rings, store: try SQLiteStore(path: dir.path()),
                            logger: WriterHarness.quiet)
        try writer.start()

        async let first = Self.produce(2500, into: a, port: 1000)
        async let second = Self.produce(2500, into: b, port: 20000)
        let (fromA, fromB) = await (first, second)
        let outcome = await writer.stop()

        let totals = rings.totals
        #expect(outcome.lost == 0)
        #expect(totals.offered == 5000)
        #expect(totals.inFlight == 0)
        #expect(outcome.counters == RunCounters(offered: 5000, stored: totals.consumed, dropped: totals.dropped))
        #expect(writer.statistics.batches >= 1)

        let probe = try DatabaseProbe(dir)
        let run = try #require(try probe.rows("SELECT offered, stored, dropped, stopped_at IS NOT NULL FROM runs").first)
        #expect(run == [.integer(5000), .integer(Int64(totals.consumed)), .integer(Int64(totals.dropped)), .integer(1)])
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == Int64(fromA.dns + fromB.dns))
        #expect(try probe.integer("SELECT sum(count) FROM checkins") == Int64(fromA.sessions + fromB.sessions))
        #expect(try probe.integer("SELECT count(*) FROM checkins") == Int64(fromA.sessions + fromB.sessions))
        #expect(try probe.text("PRAGMA integrity_check") == "ok")
    }
}
