import Dispatch
import Foundation
import SinkholeCore
@testable import SinkholeStore
import Synchronization
import Testing

/// A real SQLite store whose writes can be held in the call or refused, recording the run
/// totals of every batch that reached it (committed or not), in the order they came.
final class GatedStore: CheckInStore, Sendable {
    enum Gate { case pass, hold, refuse, holdThenRefuse }

    private let inner: SQLiteStore
    private let gates: Mutex<[Gate]>
    private let released = DispatchSemaphore(value: 0)
    private let seen = Mutex<[(stored: Int, committed: Bool)]>([])

    /// `gates[n]` decides the (n+1)th write; writes past the list pass.
    init(path: String, gates: [Gate]) throws {
        inner = try SQLiteStore(path: path)
        self.gates = Mutex(gates)
    }

    /// Writes that reached the store, held, refused or passed.
    var writes: [(stored: Int, committed: Bool)] { seen.withLock { $0 } }

    /// Lets a held write go on.
    func release() { released.signal() }

    func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        try inner.beginRun(node: node, startedAt: startedAt)
    }

    func write(_ batch: StoreBatch, node: String, run: Int64) throws {
        let index = seen.withLock { seen in
            seen.append((batch.counters.stored, false))
            return seen.count - 1
        }
        let gate = gates.withLock { $0.isEmpty ? .pass : $0.removeFirst() }
        switch gate {
        case .pass: break
        case .refuse: throw InjectedStoreFailure()
        case .hold: _ = released.wait(timeout: .now() + .seconds(20))
        case .holdThenRefuse:
            _ = released.wait(timeout: .now() + .seconds(20))
            throw InjectedStoreFailure()
        }
        try inner.write(batch, node: node, run: run)
        seen.withLock { $0[index].committed = true }
    }

    func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
        try inner.enforceRetention(retention, now: now, limit: limit)
    }

    func close() { inner.close() }
}

@Suite("Writer: folding beside a commit in flight, and DNS rows bounded apart")
struct WriterPipelineTests {
    /// Polls `condition` every 5 ms for up to `timeout`.
    static func eventually(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// A writer over `store` with batches of 8 rows of either kind and one ring, started
    /// after `before` sessions are in the ring (so the first batch is exactly those).
    static func writer(_ store: GatedStore, before: Int) throws -> (Writer, EventRing<CheckIn>) {
        let rings = EventRings<CheckIn>(slotsPerRing: 256, filler: Events.blank)
        let ring = rings.register(name: "eventloop-0")
        let writer = Writer(configuration: .init(node: "pipeline", batchSize: 8, dnsBatchSize: 8, flushInterval: .milliseconds(200),
                                                 idlePoll: .milliseconds(1), finalRetryLimit: .seconds(5)),
                            rings: rings, store: store, logger: WriterHarness.quiet)
        push(before, from: 1000, into: ring)
        try writer.start()
        return (writer, ring)
    }

    /// `count` sessions, each its own row (a new source port each).
    static func push(_ count: Int, from port: Int, into ring: EventRing<CheckIn>) {
        for i in 0..<count {
            #expect(ring.push(Events.session(at: Events.at(3600), sourcePort: UInt16(port + i))))
        }
    }

    @Test("while the store holds a commit, the writer folds the next batch and waits with it full; the heartbeat stays at the commit's start; all are stored in order")
    func foldsBesideHeldCommit() async throws {
        let dir = try TemporaryDirectory()
        let store = try GatedStore(path: dir.path(), gates: [.hold])
        let (writer, ring) = try Self.writer(store, before: 8)
        #expect(try await Self.eventually { store.writes.count == 1 }, "the first batch never reached the store")
        let held = Heartbeat.now()
        // Behind the held commit the writer drains a batch's worth (8) and waits with it full:
        // the other 8 stay in the ring.
        Self.push(16, from: 2000, into: ring)
        #expect(try await Self.eventually { ring.counts.inFlight == 8 }, "the writer did not fold the next batch while a commit was held")
        try await Task.sleep(for: .milliseconds(100))
        #expect(ring.counts.inFlight == 8, "the writer took more than a batch while a commit was held")
        #expect(writer.committedCounters.stored == 0)
        #expect(store.writes.count == 1, "a second batch was written while the first was in flight")
        #expect(writer.heartbeat.lastBeat <= held, "the heartbeat moved on while the commit was stuck")
        store.release()
        #expect(try await Self.eventually { writer.committedCounters.stored == 24 })
        #expect(writer.heartbeat.lastBeat > held)
        let outcome = await writer.stop()
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 24, stored: 24, dropped: 0))
        let stored = store.writes.filter(\.committed).map(\.stored)
        // Non-decreasing: the final batch carries the run's last counters, rows or not.
        #expect(stored.first == 8 && stored.last == 24 && stored == stored.sorted(), "\(stored)")
        let probe = try DatabaseProbe(dir)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 24)
    }

    @Test("stop() while a commit is held waits for it, then commits what is left")
    func stopWhileHeld() async throws {
        let dir = try TemporaryDirectory()
        let store = try GatedStore(path: dir.path(), gates: [.hold])
        let (writer, ring) = try Self.writer(store, before: 8)
        #expect(try await Self.eventually { store.writes.count == 1 })
        Self.push(5, from: 2000, into: ring)
        async let stopped = writer.stop()
        try await Task.sleep(for: .milliseconds(100))
        #expect(writer.committedCounters.stored == 0)
        store.release()
        let outcome = await stopped
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 13, stored: 13, dropped: 0))
        let probe = try DatabaseProbe(dir)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 13)
        #expect(try probe.rows("SELECT offered, stored, dropped, stopped_at IS NOT NULL FROM runs")
                == [[.integer(13), .integer(13), .integer(0), .integer(1)]])
    }

    @Test("a commit refused on the commit thread is retried before anything behind it, once stored, nothing lost")
    func refusedInFlight() async throws {
        let dir = try TemporaryDirectory()
        let store = try GatedStore(path: dir.path(), gates: [.refuse, .refuse])
        let (writer, ring) = try Self.writer(store, before: 8)
        #expect(try await Self.eventually { writer.statistics.writeErrors >= 1 })
        Self.push(20, from: 2000, into: ring)
        #expect(try await Self.eventually { writer.committedCounters.stored == 28 }, "\(store.writes)")
        let outcome = await writer.stop()
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 28, stored: 28, dropped: 0))
        let writes = store.writes
        // The refused batch twice, then committed: nothing behind it went first.
        #expect(writes.prefix(3).map(\.stored) == [8, 8, 8], "\(writes)")
        #expect(writes.prefix(3).map(\.committed) == [false, false, true], "\(writes)")
        let committed = writes.filter(\.committed).map(\.stored)
        #expect(committed.last == 28 && committed == committed.sorted(), "\(committed)")
        #expect(writer.statistics.retries == 2 && !writer.statistics.failing)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 28)
        #expect(try probe.rows("SELECT offered, stored, dropped FROM runs") == [[.integer(28), .integer(28), .integer(0)]])
    }

    @Test("a commit refused after the next batch filled: with spillBatches 1 that batch waits unformed, never two held")
    func spillBoundWithCommitInFlight() async throws {
        let dir = try TemporaryDirectory()
        let store = try GatedStore(path: dir.path(), gates: [.holdThenRefuse])
        let (writer, ring) = try Self.writer(store, before: 8)
        #expect(try await Self.eventually { store.writes.count == 1 })
        Self.push(16, from: 2000, into: ring)
        #expect(try await Self.eventually { ring.counts.inFlight == 8 })
        store.release()
        var mostSpilled = 0
        let until = ContinuousClock.now + .milliseconds(400)
        while ContinuousClock.now < until {
            mostSpilled = max(mostSpilled, writer.statistics.spillBatches)
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(mostSpilled == 1, "\(mostSpilled) batches spilled with spillBatches 1")
        #expect(try await Self.eventually { writer.committedCounters.stored == 24 }, "\(store.writes)")
        let outcome = await writer.stop()
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 24, stored: 24, dropped: 0))
    }

    @Test("DNS rows fill a batch at dnsBatchSize, check-in rows at batchSize, a mix in proportion")
    func dnsRowsBoundedApart() throws {
        // A check-in row fills a quarter of a batch, a DNS row a sixteenth.
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 4, dnsBatchSize: 16, flushInterval: .seconds(1))
        // Twelve distinct DNS rows, three times the check-in bound, and repeats of them.
        for i in 0..<24 {
            #expect(h.first.push(Events.dns(at: Events.at(7200), qname: "q\(i % 12).example")))
        }
        #expect(h.writer.pass() == 24)
        #expect(h.writer.committedCounters == RunCounters())
        // Four more keys fill it: committed at once.
        for i in 12..<16 {
            #expect(h.first.push(Events.dns(at: Events.at(7201), qname: "q\(i).example")))
        }
        #expect(h.writer.pass() == 4)
        #expect(h.writer.committedCounters == RunCounters(offered: 28, stored: 28, dropped: 0))
        let probe = try h.probe()
        #expect(try probe.integer("SELECT count(*) FROM dns_queries") == 16)
        #expect(try probe.integer("SELECT sum(count) FROM dns_queries") == 28)
        // Four sessions fill a batch.
        for port in 0..<4 {
            #expect(h.first.push(Events.session(at: Events.at(7202), sourcePort: UInt16(3000 + port))))
        }
        #expect(h.writer.pass() == 4)
        #expect(h.writer.committedCounters == RunCounters(offered: 32, stored: 32, dropped: 0))
        // Mixed: two sessions fill half, eight DNS rows the other half.
        for port in 0..<2 {
            #expect(h.first.push(Events.session(at: Events.at(7203), sourcePort: UInt16(4000 + port))))
        }
        for i in 0..<9 {
            #expect(h.first.push(Events.dns(at: Events.at(7203), qname: "mixed-\(i).example")))
        }
        #expect(h.writer.pass() == 10)
        #expect(h.writer.committedCounters == RunCounters(offered: 43, stored: 42, dropped: 0))
        #expect(h.rings.totals.inFlight == 1)
        // The last event may overfill a batch by less than a row: with a sixteenth left, a
        // session still goes in, and the batch is full.
        for i in 0..<6 {
            #expect(h.first.push(Events.dns(at: Events.at(7204), qname: "last-\(i).example")))
        }
        #expect(h.first.push(Events.session(at: Events.at(7204), sourcePort: 5000)))
        #expect(h.first.push(Events.session(at: Events.at(7204), sourcePort: 5001)))
        #expect(h.first.push(Events.session(at: Events.at(7204), sourcePort: 5002)))
        #expect(h.first.push(Events.session(at: Events.at(7204), sourcePort: 5003)))
        // The DNS row left over and six more (7/16 of the batch) and three sessions (12/16)
        // overfill it by 3/16; the fourth session waits for the next batch.
        #expect(h.writer.pass() == 10)
        #expect(h.writer.committedCounters == RunCounters(offered: 53, stored: 52, dropped: 0))
        #expect(h.rings.totals.inFlight == 1)
        #expect(try probe.integer("SELECT count(*) FROM checkins") == 9)
    }
}
