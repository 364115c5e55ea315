import SinkholeCore

/// What the writer has done so far, as /metrics and /readyz read it: a plain value the writer
/// publishes after every batch it forms, every commit and every refused write, so a reader
/// copies it under a short lock and never waits for a commit in progress.
public struct WriterStatistics: Sendable, Equatable {
    /// The run's counters as committed (`Writer.committedCounters`).
    public var counters = RunCounters()
    /// Batches committed.
    public var batches = 0
    /// Every `store.write` that threw, the retries of one batch included.
    public var writeErrors = 0
    /// Attempts at a batch the store had refused before (each retry, failed or not).
    public var retries = 0
    /// Batches formed and not yet committed, the one being retried included.
    public var spillBatches = 0
    /// Events drained from the rings and not yet committed: folded into the deduplicator's
    /// pending rows or into spilled batches. Events still in the rings are not included (the
    /// rings' own `inFlight` counts them).
    public var pendingEvents = 0
    /// When the store began refusing writes (writer clock); nil while it accepts them.
    public var failingSince: UTCTime? = nil
    /// The last store error's text while the store is failing; nil once it accepts writes again.
    public var lastError: String? = nil
    /// Writer clock when the oldest of `pendingEvents` was drained; nil when none is pending.
    /// The writer's lag is `now - pendingSince`: unlike the time since the last commit, it does
    /// not jump to the length of a quiet spell when the first event after it arrives (an idle
    /// writer commits nothing, so its last commit can be hours old while it is caught up).
    public var pendingSince: UTCTime? = nil
    /// Rows the retention sweeps have deleted this run.
    public var retentionDeletedRows = 0
    /// Every event in the batches formed so far, committed or not: brought up to date as each
    /// batch is formed (at most `flushInterval` behind the drain), so publishing the statistics
    /// after a pass does not copy the tally's tables once per pass.
    public var tally = CheckInTally()

    public init() {}

    /// True while the store refuses writes.
    public var failing: Bool { failingSince != nil }
}
