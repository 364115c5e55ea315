import SinkholeCore

/// Where check-ins end up. The writer is the only caller, from one thread at a time (its own,
/// or its commit thread for `write`); the rest of the sinkhole does not know which store is in
/// use.
public protocol CheckInStore: AnyObject, Sendable {
    /// Records the start of a run of this node and returns its id; the run's counters are
    /// updated by every later `write`.
    func beginRun(node: String, startedAt: UTCTime) throws -> Int64
    /// Commits one batch atomically: its rows, the run's counters, and the node's cumulative
    /// counters. Either all of it is stored or none of it.
    func write(_ batch: StoreBatch, node: String, run: Int64) throws
    /// Deletes up to `limit` rows older than `retention` allows at `now`, in one short
    /// transaction, and returns how many it deleted: the writer calls it between batches until
    /// it returns 0, so a sweep of millions of rows never holds up a commit for long. A store
    /// that sweeps on a connection of its own (PostgreSQL drops whole day partitions) starts
    /// that sweep when due and returns 0: the writer's thread has nothing to delete.
    func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int
    /// Releases the store; called once, after the last write.
    func close()
}

/// How long each table keeps rows, in days (`store.retention_days`); 0 keeps a table forever.
///
/// The hourly summaries follow the table they summarise, by what they hold: `resolver_hours`
/// holds resolvers' addresses, so it goes with `dns_queries`; `service_hours` and `name_hours`
/// hold no address and go with `infections`, so `sinkhole stats` still counts a takedown's
/// months after its raw check-ins are gone.
public struct Retention: Sendable, Equatable {
    public var checkinsDays: Int
    public var infectionsDays: Int
    public var dnsQueriesDays: Int

    public init(checkinsDays: Int, infectionsDays: Int, dnsQueriesDays: Int) {
        self.checkinsDays = checkinsDays
        self.infectionsDays = infectionsDays
        self.dnsQueriesDays = dnsQueriesDays
    }

    /// The first instant each table keeps at `now`: rows before it are deleted. A table kept
    /// forever (0 days) gets the earliest instant there is.
    public func cutoffs(now: UTCTime) -> (checkins: UTCTime, infections: UTCTime, dnsQueries: UTCTime) {
        func before(_ days: Int) -> UTCTime {
            days <= 0 ? UTCTime(microseconds: .min / 2) : UTCTime(microseconds: now.microseconds - Int64(days) * 86_400_000_000)
        }
        return (before(checkinsDays), before(infectionsDays).dayStart, before(dnsQueriesDays).hourStart)
    }
}
