import Foundation
import Logging
import SinkholeCore

/// The writer's state, touched only by the writer thread (or a test driving it by hand).
struct WriterLoop: ~Copyable {
    let configuration: Writer.Configuration
    let rings: EventRings<CheckIn>
    let store: any CheckInStore
    let logger: Logger
    let clock: @Sendable () -> UTCTime
    let progress: WriterProgress

    private var deduplicator: Deduplicator
    private var run: Int64 = 0
    /// Counters of the last committed batch.
    private(set) var committed = RunCounters()
    /// Batches formed but not committed, oldest first: the head is the one being committed
    /// (in flight on the commit thread), or the one the store refused, retried with backoff;
    /// the writer goes on draining into new batches behind a refused one until `spillBatches`
    /// wait, then leaves events in the rings. Committed strictly in order:
    /// each batch's counters are the run's totals after it, which a retried batch's store
    /// compares to tell a lost COMMIT answer from a failed write.
    /// `drainedSince`: when the batch's oldest event was drained (writer clock).
    private var spill: [(batch: StoreBatch, events: Int, drainedSince: UTCTime)] = []
    /// Events folded into the spilled batches.
    private var spilledEvents = 0
    /// When the oldest event the deduplicator holds was drained; nil when it holds none.
    private var foldingSince: UTCTime?
    private var lastFlush: UTCTime
    /// The latest event time seen: sessions expire by event time, so a replayed capture folds
    /// as it did live.
    private var latestEvent = UTCTime(microseconds: 0)
    private var retryAt = UTCTime(microseconds: 0)
    private var backoff: Int64 = 100_000
    private var firstRing = 0
    /// When the next retention sweep starts; the first runs soon after start.
    private var nextSweep: UTCTime
    /// Rows deleted so far by the sweep under way, nil when none is.
    private var sweeping: Int?
    /// Every event drained: responses counted in the drain itself, check-ins from each batch's
    /// summary; copied into `statistics` when a batch is formed.
    private var tally = CheckInTally()
    /// What readers see, kept up to date here and published by `publishStatistics()`.
    private var statistics = WriterStatistics()
    /// Something readers see changed since the last publication.
    private var changed = false
    /// The head of `spill` was refused at least once: the next attempt is a retry.
    private var headRefused = false
    /// Set by `Writer.start()`: the head of `spill` is committed there while this thread folds
    /// the next batch. Nil when a test drives the writer by hand, so that a pass returns with
    /// its batch committed.
    private var committer: CommitThread?
    /// When the commit in flight on `committer` began (`Heartbeat.now()`); nil when none is.
    /// While one is, the head of `spill` belongs to it.
    private(set) var commitStartedAt: UInt64?
    private var traffic: TrafficSummary
    /// The summary folded a batch since it was last published.
    private var trafficChanged = false
    /// Writer clock of the last publication of `traffic`.
    private var trafficPublishedAt: UTCTime?

    init(configuration: Writer.Configuration, rings: EventRings<CheckIn>, store: any CheckInStore,
         logger: Logger, clock: @escaping @Sendable () -> UTCTime, progress: WriterProgress) {
        self.configuration = configuration
        self.rings = rings
        self.store = store
        self.logger = logger
        self.clock = clock
        self.progress = progress
        deduplicator = Deduplicator(sessionWindowSeconds: configuration.sessionWindowSeconds)
        lastFlush = clock()
        traffic = TrafficSummary(start: lastFlush, sourceASN: configuration.sourceASN)
        progress.publish(traffic.snapshot(at: lastFlush))
        nextSweep = lastFlush
    }

    var idleSleepSeconds: Double {
        let (seconds, attoseconds) = configuration.idlePoll.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Records the run in the store; idempotent.
    mutating func beginRun() throws {
        guard run == 0 else { return }
        run = try store.beginRun(node: configuration.node, startedAt: clock())
    }

    /// From now on batches are committed on a thread of their own (`CommitThread`).
    mutating func commitOnThreadOfItsOwn() {
        guard committer == nil else { return }
        committer = CommitThread(store: store)
    }

    /// Drains what the rings hold (up to a batch) and commits when a batch is due.
    /// Returns the number of events drained.
    mutating func pass(final: Bool) -> Int {
        let now = clock()
        let rolled = traffic.roll(to: now)
        defer { publish(now: now, rolled: rolled) }
        collect(wait: final)
        if !spill.isEmpty {
            // Nothing in flight and a batch waiting: the store refused it.
            if commitStartedAt == nil,
               now >= retryAt || final || retryAt.microseconds - now.microseconds > Self.maximumBackoff {
                commitSpill(now: now)
                return 0
            }
            // Full: events stay in the rings, whose producers count what they must drop.
            if headRefused && spill.count >= max(configuration.spillBatches, 1) { return 0 }
        }
        var offered = 0
        var dropped = 0
        var drained = 0
        // Start each pass at the next ring: when the writer falls behind, every producer gets
        // its turn to be drained first, so drops do not all land on the last rings.
        let all = rings.all
        if !all.isEmpty { firstRing = (firstRing + 1) % all.count }
        for position in all.indices {
            let ring = all[(firstRing + position) % all.count]
            // Drain no further than this snapshot, so the committed counters never show more
            // stored than offered.
            let counts = ring.counts
            offered += counts.offered
            dropped += counts.dropped
            // Bounded by rows, not events: a flood of repeats folds into rows already pending
            // and costs the store nothing more, so the writer keeps draining it. Each event adds
            // at most one row of one kind, so a drain of `room` events overfills the batch by
            // less than a row at most (`roomInBatch`).
            var left = counts.inFlight
            while left > 0 {
                let room = roomInBatch
                guard room > 0 else { break }
                let taken = ring.drain(maximum: min(left, room)) { event in
                    if event.time > latestEvent { latestEvent = event.time }
                    tally.count(event)
                    deduplicator.add(event)
                }
                guard taken > 0 else { break }
                left -= taken
                drained += taken
            }
        }
        if drained > 0 {
            changed = true
            if foldingSince == nil { foldingSince = now }
        }
        // A wall clock stepped backwards (NTP) counts as due: otherwise nothing would be
        // flushed on time until the clock caught up again.
        let full = roomInBatch == 0
        let due = full
            || now.microseconds - lastFlush.microseconds >= Self.microseconds(configuration.flushInterval)
            || now < lastFlush
            || final
        // The next batch is formed once the one in flight is committed, so no more than two
        // (committing, folding) are held. One due by time waits for a later pass, the writer
        // draining meanwhile; a full one waits here: the store sets the pace.
        if due && commitStartedAt != nil && !full && !final {
            // Formed on the first pass after the commit in flight is done.
        } else if due && (deduplicator.pendingEvents > 0 || offered != committed.offered || final) {
            collect(wait: true)
            // Refused in flight with the spill full: the rows wait in the deduplicator, and the
            // next pass drains nothing more (as for a batch refused before this one was due).
            if !final && headRefused && spill.count >= max(configuration.spillBatches, 1) { return drained }
            if committer != nil && !final && spill.isEmpty { sweepStep(now: now) }
            var (batch, events) = deduplicator.takeBatch(now: max(latestEvent, UTCTime(microseconds: 0)))
            batch.counters = RunCounters(offered: offered, stored: committed.stored + spilledEvents + events, dropped: dropped)
            if final { batch.finishedAt = now }
            // Counted when formed, not when committed: /status and /metrics show what arrived
            // while the first batch the store refuses is retried (once `spillBatches` are
            // waiting, nothing more is drained, so nothing more is counted).
            traffic.add(batch, at: now)
            tally.add(batch.summary)
            statistics.tally = tally
            trafficChanged = true
            changed = true
            // Consumed, not copied: the spilled batch must be the only holder of its rows for
            // `recycle` to keep their memory once it is committed.
            spill.append((consume batch, events, foldingSince ?? now))
            foldingSince = nil
            spilledEvents += events
            lastFlush = now
            // Behind a refused batch, it waits for that one's retry.
            if spill.count == 1 { commitSpill(now: now) }
        } else if due {
            lastFlush = now
        }
        if !final && spill.isEmpty { sweepStep(now: now) }
        return drained
    }

    /// Events the batch being folded can take; 0 when it is full. A check-in row fills
    /// 1/`batchSize` of a batch and a DNS row 1/`dnsBatchSize` (counted in units of
    /// 1/(batchSize × dnsBatchSize)), and each event adds at most one row: as many events as
    /// could all be check-in rows or all DNS rows without overfilling it, and at least one
    /// while any room is left, so the last row may overfill it by less than a row.
    private var roomInBatch: Int {
        let (checkInBound, dnsBound) = (configuration.batchSize, configuration.dnsBatchSize)
        let pending = deduplicator.pendingRows
        let left = checkInBound * dnsBound - pending.checkIns * dnsBound - pending.dnsQueries * checkInBound
        guard left > 0 else { return 0 }
        return max(1, left / max(checkInBound, dnsBound))
    }

    /// Publishes the statistics when anything changed, and the traffic summary on a day roll
    /// or when it changed and a second has passed since the last time (writer clock; a clock
    /// stepped back counts as due). The snapshot sorts the top lists, so not on every batch.
    private mutating func publish(now: UTCTime, rolled: Bool) {
        if changed { publishStatistics() }
        let due = trafficPublishedAt.map { now.microseconds - $0.microseconds >= 1_000_000 || now < $0 } ?? true
        if rolled || (trafficChanged && due) {
            progress.publish(traffic.snapshot(at: now))
            trafficChanged = false
            trafficPublishedAt = now
        }
    }

    private mutating func publishStatistics() {
        statistics.counters = committed
        // A batch in flight that the store has not refused is not spilled: it is being committed.
        statistics.spillBatches = spill.count - (commitStartedAt != nil && !headRefused ? 1 : 0)
        statistics.pendingEvents = deduplicator.pendingEvents + spilledEvents
        // A batch of counters only (drops, the final one) holds no event to wait for.
        statistics.pendingSince = spill.first { $0.events > 0 }?.drainedSince ?? foldingSince
        progress.publish(statistics)
        changed = false
    }

    /// One step of the hourly retention sweep, between batches: a step is one short
    /// transaction, so a sweep through millions of old rows delays a commit by one step at
    /// most, never by the whole sweep. A failing step ends the sweep (logged once); the next
    /// starts an hour later.
    private mutating func sweepStep(now: UTCTime) {
        guard let retention = configuration.retention else { return }
        if sweeping == nil {
            guard now >= nextSweep else { return }
            sweeping = 0
        }
        do {
            let deleted = try store.enforceRetention(retention, now: now, limit: configuration.retentionStepRows)
            if deleted > 0 {
                sweeping = (sweeping ?? 0) + deleted
                statistics.retentionDeletedRows += deleted
                changed = true
                return
            }
            if let total = sweeping, total > 0 {
                logger.info("retention sweep done", metadata: [
                    "rows.deleted": "\(total)", "retention.checkins_days": "\(retention.checkinsDays)",
                    "retention.infections_days": "\(retention.infectionsDays)",
                    "retention.dns_queries_days": "\(retention.dnsQueriesDays)",
                ])
            }
        } catch {
            logger.warning("retention sweep failed; next try in an hour", metadata: ["store.error": "\(error)"])
        }
        sweeping = nil
        nextSweep = UTCTime(microseconds: now.microseconds + Self.sweepInterval)
    }

    /// An hour between retention sweeps, in microseconds.
    static let sweepInterval: Int64 = 3_600_000_000

    /// Commits the spilled batches in order, each in its own transaction, until the store
    /// refuses one (kept at the head, retried after the backoff) or none is left. With a
    /// commit thread, the head is handed to it and this returns at once: `collect` takes the
    /// outcome and hands over the next.
    private mutating func commitSpill(now: UTCTime) {
        precondition(commitStartedAt == nil, "a commit started while another is in flight")
        while !spill.isEmpty {
            if headRefused { statistics.retries += 1 }
            if let committer {
                commitStartedAt = Heartbeat.now()
                committer.start(spill[0].batch, node: configuration.node, run: run)
                return
            }
            let started = ContinuousClock.now
            let outcome: Result<Duration, any Error>
            do {
                // Passed from its place in `spill`, not copied out: once removed, the batch is
                // the only holder of its rows and `recycle` can keep their memory.
                try store.write(spill[0].batch, node: configuration.node, run: run)
                outcome = .success(ContinuousClock.now - started)
            } catch {
                outcome = .failure(error)
            }
            guard settle(outcome, now: now) else { return }
        }
    }

    /// Takes the outcome of the commit in flight, if there is one and it is done (`wait`:
    /// waits for it), and hands the next waiting batch over when the store took this one.
    private mutating func collect(wait: Bool) {
        guard commitStartedAt != nil, let committer else { return }
        guard let outcome = committer.outcome(wait: wait) else { return }
        commitStartedAt = nil
        // The writer's clock now, not the pass's: the backoff runs from the refusal.
        let now = clock()
        if settle(outcome, now: now) && !spill.isEmpty {
            commitSpill(now: now)
            // `settle` published the next batch as spilled; in flight now, it is not.
            changed = true
        }
    }

    /// Books the outcome of writing the head of `spill`; returns whether it was committed.
    private mutating func settle(_ outcome: Result<Duration, any Error>, now: UTCTime) -> Bool {
        switch outcome {
        case .failure(let error):
            refused(error, now: now)
            publishStatistics()
            return false
        case .success(let duration):
            configuration.batchDuration?(duration)
            headRefused = false
            var done = spill.removeFirst()
            committed = done.batch.counters
            spilledEvents -= done.events
            deduplicator.recycle(&done.batch.checkIns)
            backoff = 100_000
            statistics.batches += 1
            if statistics.failing {
                statistics.failingSince = nil
                statistics.lastError = nil
                logger.notice("store writable again", metadata: ["store.stored": "\(committed.stored)",
                                                                 "store.spilled_batches": "\(spill.count)"])
            }
            // After each commit, not once per pass: `committedCounters` moves as the store does.
            publishStatistics()
            return true
        }
    }

    /// Logged once when the store starts failing; the next attempt waits twice as long as the
    /// last, up to `maximumBackoff`.
    private mutating func refused(_ error: any Error, now: UTCTime) {
        headRefused = true
        statistics.writeErrors += 1
        statistics.lastError = "\(error)"
        if !statistics.failing {
            statistics.failingSince = now
            logger.error("store write failed; retrying with backoff, batches spill and rings fill meanwhile",
                         metadata: ["store.error": "\(error)", "store.spill_batches": "\(configuration.spillBatches)"])
        }
        retryAt = UTCTime(microseconds: now.microseconds + backoff)
        backoff = min(backoff * 2, Self.maximumBackoff)
    }

    /// Drains every ring to empty, commits the final batch (with the finish time and the last
    /// counters, even if it has no rows) and closes the store. Producers must have stopped.
    mutating func finish() -> Writer.Outcome {
        // The end is committed on this thread: the commits in flight are waited for (each
        // hands over the next) and the commit thread is let go.
        while commitStartedAt != nil { collect(wait: true) }
        committer?.stop()
        committer = nil
        let deadline = clock().microseconds + Self.microseconds(configuration.finalRetryLimit)
        while true {
            if let newest = spill.last {
                commitSpill(now: clock())
                if spill.isEmpty {
                    if newest.batch.finishedAt != nil { break }
                    continue
                }
                if clock().microseconds >= deadline { break }
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            // The deadline bounds retries of a failing store only: a healthy store is drained
            // to the last event however long it takes (the producers have stopped).
            let last = rings.totals.inFlight == 0
            _ = pass(final: last)
            if last && spill.isEmpty { break }
        }
        // Folded but not yet in a batch, too: drained while an earlier batch was refused.
        let lost = rings.totals.inFlight + spilledEvents + deduplicator.pendingEvents
        if lost > 0 {
            logger.critical("store still failing at shutdown; events not stored", metadata: ["events.lost": "\(lost)"])
        }
        store.close()
        return Writer.Outcome(counters: committed, lost: lost)
    }

    /// The longest wait between two attempts at a failing store, in microseconds.
    static let maximumBackoff: Int64 = 5_000_000

    static func microseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
