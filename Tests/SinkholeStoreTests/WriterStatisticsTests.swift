import SinkholeCore
import SinkholeStore
import Synchronization
import Testing

/// The error a `SwitchedStore` throws, with the text an operator would see.
struct StoreRefusal: Error, CustomStringConvertible {
    var description: String { "database or disk is full" }
}

/// A store behind a switch (the idea of `WriterHeartbeatTests.SwitchedStore`, without the
/// threads): writes pass to the real store or are refused, as the test says.
final class SwitchedStore: CheckInStore, Sendable {
    private let inner: any CheckInStore
    private let refusing = Mutex(false)

    init(_ inner: any CheckInStore) { self.inner = inner }

    func refuse(_ on: Bool) { refusing.withLock { $0 = on } }

    func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        try inner.beginRun(node: node, startedAt: startedAt)
    }

    func write(_ batch: StoreBatch, node: String, run: Int64) throws {
        if refusing.withLock({ $0 }) { throw StoreRefusal() }
        try inner.write(batch, node: node, run: run)
    }

    func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
        try inner.enforceRetention(retention, now: now, limit: limit)
    }

    func close() { inner.close() }
}

/// Values a hook was called with, from whichever thread called it.
final class Recorded<Value: Sendable>: Sendable {
    private let recorded = Mutex<[Value]>([])

    func append(_ value: Value) { recorded.withLock { $0.append(value) } }

    var values: [Value] { recorded.withLock { $0 } }
}

/// A hand-driven writer over a real SQLite file and a switchable store, with the statistics'
/// hooks (`batchDuration`, `sourceASN`) set by the test.
final class StatisticsHarness {
    let dir: TemporaryDirectory
    let rings: EventRings<CheckIn>
    let ring: EventRing<CheckIn>
    let clock: FakeClock
    let store: SwitchedStore
    let writer: Writer
    /// Every duration `batchDuration` was called with.
    let durations: Recorded<Duration>

    init(clock: FakeClock = FakeClock(), batchSize: Int = 64, spillBatches: Int = 4,
         configure: (inout Writer.Configuration) -> Void = { _ in }) throws {
        dir = try TemporaryDirectory()
        rings = EventRings(slotsPerRing: 64, filler: Events.blank)
        ring = rings.register(name: "eventloop-0")
        self.clock = clock
        store = SwitchedStore(RunBeginningStore(try SQLiteStore(path: dir.path()), startedAt: clock.time))
        var configuration = Writer.Configuration(node: "test-node", batchSize: batchSize, dnsBatchSize: batchSize,
                                                 flushInterval: .seconds(1))
        configuration.spillBatches = spillBatches
        let durations = Recorded<Duration>()
        self.durations = durations
        configuration.batchDuration = { durations.append($0) }
        configure(&configuration)
        writer = Writer(configuration: configuration, rings: rings, store: store,
                        logger: WriterHarness.quiet, clock: clock.read)
    }

    /// Pushes every event, expecting the ring to take each.
    func push(_ events: [CheckIn]) {
        for event in events { #expect(ring.push(event)) }
    }

    /// `count` HTTP check-ins of family rustock, each its own session (a new source port).
    func sessions(_ count: Int, from port: UInt16 = 41_000) -> [CheckIn] {
        (0..<count).map { Events.session(at: clock.time, sourcePort: port + UInt16($0)) }
    }
}

@Suite("Writer statistics: commits, failures and lag as /metrics and /readyz read them")
struct WriterStatisticsTests {
    @Test("drained events are pending until committed; a commit counts the batch, its time and the counters")
    func pendingThenCommitted() throws {
        let h = try StatisticsHarness()
        #expect(h.writer.statistics == WriterStatistics())
        h.push(h.sessions(3))
        let drainedAt = h.clock.time
        #expect(h.writer.pass() == 3)
        var s = h.writer.statistics
        #expect(s.pendingEvents == 3 && s.batches == 0 && s.spillBatches == 0)
        #expect(s.pendingSince == drainedAt)
        #expect(s.counters == RunCounters())

        h.clock.advance(by: .seconds(1))
        #expect(h.writer.pass() == 0)
        s = h.writer.statistics
        #expect(s.pendingEvents == 0 && s.spillBatches == 0 && s.pendingSince == nil)
        #expect(s.batches == 1)
        #expect(s.tally.checkIns == [.init(service: .http, family: "rustock"): 3])
        #expect(s.counters == RunCounters(offered: 3, stored: 3, dropped: 0))
        #expect(s.counters == h.writer.committedCounters)
        #expect(s.writeErrors == 0 && s.retries == 0 && s.failingSince == nil && s.lastError == nil)
        #expect(h.durations.values.count == 1)

        // An idle interval commits nothing; the first event after it is pending since it was
        // drained, not since the last commit.
        h.clock.advance(by: .seconds(5))
        #expect(h.writer.pass() == 0)
        #expect(h.writer.statistics.batches == 1)
        h.push(h.sessions(1, from: 41_100))
        h.clock.advance(by: .milliseconds(2))
        let drained = h.clock.time
        #expect(h.writer.pass() == 1)
        #expect(h.writer.statistics.pendingSince == drained)
        h.clock.advance(by: .milliseconds(300))
        #expect(h.writer.pass() == 0)
        #expect(h.writer.statistics.pendingSince == drained && h.writer.statistics.pendingEvents == 1)
    }

    @Test("a store that refuses writes: errors, retries, failingSince and the error text, spill and pending; all clear when it recovers")
    func refusingThenRecovering() throws {
        let h = try StatisticsHarness()
        h.store.refuse(true)
        h.push(h.sessions(2))
        h.clock.advance(by: .seconds(1))
        let failedAt = h.clock.time
        #expect(h.writer.pass() == 2)
        var s = h.writer.statistics
        #expect(s.writeErrors == 1 && s.retries == 0)
        #expect(s.failingSince == failedAt && s.failing)
        #expect(s.lastError == "database or disk is full")
        #expect(s.spillBatches == 1 && s.pendingEvents == 2 && s.pendingSince == failedAt)
        #expect(s.batches == 0 && s.counters == RunCounters())

        // More traffic drains behind the refused batch while it waits for its retry.
        h.push(h.sessions(3, from: 42_000))
        h.clock.advance(by: .milliseconds(50))
        #expect(h.writer.pass() == 3)
        s = h.writer.statistics
        #expect(s.pendingEvents == 5 && s.spillBatches == 1 && s.writeErrors == 1)

        // The retry after the 100 ms backoff is refused too: one more error, one retry, the
        // failure still dated from the first.
        h.clock.advance(by: .milliseconds(50))
        #expect(h.writer.pass() == 0)
        s = h.writer.statistics
        #expect(s.writeErrors == 2 && s.retries == 1 && s.failingSince == failedAt)

        // The pending events form a second batch behind the first.
        h.clock.advance(by: .seconds(1))
        #expect(h.writer.pass() == 0)  // the backoff (200 ms) has passed: this pass retries
        #expect(h.writer.statistics.writeErrors == 3 && h.writer.statistics.retries == 2)
        h.clock.advance(by: .milliseconds(100))
        #expect(h.writer.pass() == 0)  // still backing off (400 ms): this pass forms the second batch
        s = h.writer.statistics
        #expect(s.spillBatches == 2 && s.pendingEvents == 5)
        #expect(s.pendingSince == failedAt, "the oldest waiting event is the refused batch's")
        #expect(h.durations.values.isEmpty)

        h.store.refuse(false)
        h.clock.advance(by: .seconds(1))
        #expect(h.writer.pass() == 0)
        s = h.writer.statistics
        #expect(s.failingSince == nil && !s.failing && s.lastError == nil)
        #expect(s.writeErrors == 3 && s.retries == 3)
        #expect(s.batches == 2)
        #expect(s.spillBatches == 0 && s.pendingEvents == 0 && s.pendingSince == nil)
        #expect(s.counters == RunCounters(offered: 5, stored: 5, dropped: 0))
        #expect(h.durations.values.count == 2, "batchDuration is called once per commit, never for a refusal")
    }

    @Test("batchDuration is called once per successful write, with the write's duration")
    func batchDurationPerCommit() throws {
        let h = try StatisticsHarness(batchSize: 2)
        for round in 0..<3 {
            h.push(h.sessions(2, from: 43_000 + UInt16(round) * 10))
            #expect(h.writer.pass() == 2)  // a full batch commits at once
        }
        let durations = h.durations.values
        #expect(durations.count == 3 && h.writer.statistics.batches == 3)
        #expect(durations.allSatisfy { $0 >= .zero && $0 < .seconds(10) })
        let outcome = h.writer.finishOnCallerThread()
        // The final batch (counters and finish time, no rows) is a write too.
        #expect(h.durations.values.count == 4 && h.writer.statistics.batches == 4)
        #expect(outcome.counters == RunCounters(offered: 6, stored: 6, dropped: 0))
    }

    @Test("retention sweeps add up the rows they delete")
    func retentionDeletedRows() throws {
        // Check-ins 20 days before the clock, kept 15 days: every row goes, two per step.
        let clock = FakeClock(Events.at(20 * 86_400))
        let h = try StatisticsHarness(clock: clock, configure: {
            $0.retention = Retention(checkinsDays: 15, infectionsDays: 400, dnsQueriesDays: 400)
            $0.retentionStepRows = 2
        })
        let old = (0..<5).map { Events.session(at: Events.at(3600 + Int64($0)), sourcePort: 44_000 + UInt16($0), family: "") }
        h.push(old)
        #expect(h.writer.pass() == 5)  // the first sweep runs now, before anything is stored: 0 rows
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(h.writer.statistics.batches == 1 && h.writer.statistics.retentionDeletedRows == 0)
        // An hour later the next sweep deletes the five rows, two per step, one step per pass.
        h.clock.advance(by: .seconds(3600))
        var seen: [Int] = []
        for _ in 0..<4 {
            h.writer.pass()
            seen.append(h.writer.statistics.retentionDeletedRows)
        }
        #expect(seen == [2, 4, 5, 5])
    }
}
