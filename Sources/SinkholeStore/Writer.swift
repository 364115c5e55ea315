import Foundation
import Logging
import SinkholeCore
import Synchronization

/// Drains every producer's ring on its own thread, folds the events with a `Deduplicator` and
/// commits one batch at a time to the store, on a second thread (`CommitThread`) while it folds
/// the next.
///
/// A batch is committed when its rows fill it (`batchSize` check-in rows, or `dnsBatchSize` DNS
/// query rows, or a mix in proportion; events that repeat a pending row fold into it and add
/// none) or `flushInterval` has passed, whichever comes first. A store failure
/// keeps the batch and retries it with backoff (logged once when it starts failing and once
/// when it recovers); meanwhile new batches spill behind it up to `spillBatches`, then the
/// rings fill and producers count drops rather than block. `stop()` drains every ring to empty and commits the
/// last batch with the run's final counters, so after a clean stop the store holds
/// `offered == stored + dropped` for the run, exactly.
public final class Writer: Sendable {
    public struct Configuration: Sendable {
        public var node: String
        /// `checkins` rows that fill a batch (set by `init`, which checks it).
        public private(set) var batchSize: Int
        /// `dns_queries` rows that fill a batch; with check-in rows in it too, each kind takes its
        /// share (a check-in row 1/`batchSize` of the batch, a DNS row 1/`dnsBatchSize`). A
        /// flood of queries through many resolvers for many names repeats a key only after all
        /// the others, so its repeats fold only in a batch that holds every key: raising this
        /// alone folds them and leaves check-in batches as they are (a DNS row takes 0.2–0.4 of
        /// a check-in row's memory; measured in Benchmarks/RESULTS.md: 20,480 such keys went in
        /// at 5–7× the rate with 32768). Not by default: a larger batch is a longer commit, and
        /// a writer that cannot keep up makes the responders wait for it that long, past their
        /// patience (`EventRing.stallMicroseconds`; then they drop, counted).
        public private(set) var dnsBatchSize: Int
        /// Longest time folded events wait before they are committed.
        public var flushInterval: Duration
        public var sessionWindowSeconds: Int
        /// How long the thread sleeps when the rings are empty.
        public var idlePoll: Duration
        /// How long the final flush keeps retrying a failing store before giving up.
        public var finalRetryLimit: Duration
        /// What the hourly sweep deletes; nil keeps everything.
        public var retention: Retention?
        /// Rows one sweep step deletes, in one short transaction between batches.
        public var retentionStepRows: Int = 5_000
        /// Batches held in memory while the store refuses them (PostgreSQL down, a full
        /// disk), the one being retried included: the writer goes on draining the rings into
        /// new batches until this many wait, then leaves events in the rings, whose producers
        /// count what they must drop once those are full too. When the store is back they are
        /// committed in order. 1: only the batch being retried. Each holds up to `batchSize`
        /// check-in rows (about 1.8 KiB each with the row's event id) or `dnsBatchSize` DNS
        /// rows (0.4–0.75 KiB each with its share of the batch's table), so the bound is in
        /// memory too.
        public var spillBatches: Int = 1
        /// Called with the duration of each successful `store.write` (monotonic clock), on the
        /// writer thread: /metrics records it in a histogram. Must return at once.
        public var batchDuration: (@Sendable (Duration) -> Void)? = nil
        /// The AS an address belongs to (a longest-prefix match), for /status's top source ASes;
        /// nil leaves the ranking out. Called on the writer thread once per infected address new
        /// today, never per event.
        public var sourceASN: (@Sendable (IPAddress) -> UInt32?)? = nil

        /// `batchSize` and `dnsBatchSize` from 1 to `maximumBatchSize`.
        public init(node: String, batchSize: Int = 4096, dnsBatchSize: Int = 4096, flushInterval: Duration = .seconds(1),
                    sessionWindowSeconds: Int = 120, idlePoll: Duration = .milliseconds(2),
                    finalRetryLimit: Duration = .seconds(10), retention: Retention? = nil) {
            // Their product counts a batch's room (`WriterLoop.roomInBatch`): far from overflow.
            precondition((1...Self.maximumBatchSize).contains(batchSize) && (1...Self.maximumBatchSize).contains(dnsBatchSize),
                         "batch sizes must be from 1 to \(Self.maximumBatchSize)")
            self.retention = retention
            self.node = node
            self.batchSize = batchSize
            self.dnsBatchSize = dnsBatchSize
            self.flushInterval = flushInterval
            self.sessionWindowSeconds = sessionWindowSeconds
            self.idlePoll = idlePoll
            self.finalRetryLimit = finalRetryLimit
        }

        public static let maximumBatchSize = 100_000_000
    }

    /// What the writer knows when it has stopped.
    public struct Outcome: Sendable, Equatable {
        public var counters: RunCounters
        /// Events drained but not committed because the store kept failing at shutdown.
        public var lost: Int
    }

    private let state: Mutex<WriterLoop>
    private let control = Mutex<Control>(Control())
    private let progress = WriterProgress()
    /// Stamped by the writer thread before every pass, never later than the start of the
    /// commit in flight: a commit stuck in a store call (a hung disk, a lock that never comes)
    /// leaves it old, though the writer thread goes on folding, and the watchdog stops pinging.
    /// A store that refuses writes is not stuck: the threads go on passing, spilling and
    /// counting.
    public let heartbeat = Heartbeat(name: "writer")

    struct Control {
        var stopRequested = false
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome, Never>] = []
    }

    public init(configuration: Configuration, rings: EventRings<CheckIn>, store: any CheckInStore,
                logger: Logger, clock: @escaping @Sendable () -> UTCTime = UTCTime.now) {
        state = Mutex(WriterLoop(configuration: configuration, rings: rings, store: store,
                                 logger: logger, clock: clock, progress: progress))
    }

    /// Records this run in the store (its counters are updated by every batch). `start()` calls
    /// it; a caller driving the writer by hand with `pass()` calls it first. Idempotent.
    public func beginRun() throws {
        try state.withLock { try $0.beginRun() }
    }

    /// Records the run in the store and starts the writer thread and its commit thread.
    public func start() throws {
        try beginRun()
        state.withLock { $0.commitOnThreadOfItsOwn() }
        let logger = state.withLock { $0.logger }
        SinkholeThread.start(name: "sinkhole-writer", priority: .storing, priorityRefused: { error in
            logger.warning("the writer cannot lower its priority below the responders' and the capture's; it runs level with them", metadata: [
                "setpriority.error": "\(String(cString: strerror(error)))",
                "hint": "under systemd the unit's SystemCallFilter= must allow setpriority (systemd/sinkhole.service does)",
            ])
        }) { [self] in self.runLoop() }
    }

    /// Asks the writer to drain every ring, commit, close the store and stop; returns when it
    /// has. Call after every producer has stopped, or their last events may miss the final batch.
    public func stop() async -> Outcome {
        await withCheckedContinuation { continuation in
            control.withLock { control in
                if let outcome = control.outcome {
                    continuation.resume(returning: outcome)
                } else {
                    control.stopRequested = true
                    control.waiters.append(continuation)
                }
            }
        }
    }

    private func runLoop() {
        while !control.withLock({ $0.stopRequested }) {
            let idle = state.withLock { loop in
                // A commit stuck in the store holds the heartbeat at its start, though this
                // thread goes on folding: the watchdog must see the store's thread stuck too.
                heartbeat.beat(at: min(Heartbeat.now(), loop.commitStartedAt ?? .max))
                return loop.pass(final: false) == 0
            }
            if idle { Thread.sleep(forTimeInterval: state.withLock { $0.idleSleepSeconds }) }
        }
        let outcome = state.withLock { $0.finish() }
        let waiters = control.withLock { control in
            control.outcome = outcome
            defer { control.waiters = [] }
            return control.waiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// Runs one drain-and-maybe-commit pass on the caller's thread (tests drive the writer this
    /// way, with an injected clock, instead of sleeping). Returns the events drained.
    @discardableResult
    public func pass() -> Int {
        state.withLock { $0.pass(final: false) }
    }

    /// Drains to empty and commits the final batch on the caller's thread (tests).
    public func finishOnCallerThread() -> Outcome {
        state.withLock { $0.finish() }
    }

    /// The run's counters as committed so far. Readers (metrics, systemd's status line) never
    /// wait for a commit in progress: they take only the published statistics' lock.
    public var committedCounters: RunCounters { progress.counters }

    /// Everything /metrics and /readyz read of the writer, as of its last pass that changed
    /// anything (published at the end of the pass, and after every commit).
    public var statistics: WriterStatistics { progress.statistics }

    /// Today's traffic for /status, published by the writer at most once a second (writer
    /// clock) and on every UTC day roll.
    public var traffic: TrafficSnapshot { progress.traffic }
}

/// What the writer has done, published for readers on other threads.
///
/// Two small locks, each held only to copy a value (a few integers and references to
/// copy-on-write storage): readers never wait for a commit in progress (they would, on the
/// writer's state lock), never see a torn value, and a /status request never holds up /metrics.
final class WriterProgress: Sendable {
    private let published = Mutex(WriterStatistics())
    /// `WriterLoop.init` publishes the first, empty since the writer's start.
    private let summary = Mutex(TrafficSnapshot.empty)

    func publish(_ statistics: WriterStatistics) {
        published.withLock { $0 = statistics }
    }

    func publish(_ traffic: TrafficSnapshot) {
        summary.withLock { $0 = traffic }
    }

    var statistics: WriterStatistics { published.withLock { $0 } }
    /// The counters alone, without retaining the tally's storage (pollers read this often).
    var counters: RunCounters { published.withLock { $0.counters } }
    var traffic: TrafficSnapshot { summary.withLock { $0 } }
}
