import SinkholeCore

/// Where check-ins end up. The writer is the only caller, from its own thread; the rest of the
/// sinkhole does not know which store is in use.
public protocol CheckInStore: AnyObject, Sendable {
    /// Records the start of a run of this node and returns its id; the run's counters are
    /// updated by every later `write`.
    func beginRun(node: String, startedAt: UTCTime) throws -> Int64
    /// Commits one batch atomically: its rows, the run's counters, and the node's cumulative
    /// counters. Either all of it is stored or none of it.
    func write(_ batch: StoreBatch, node: String, run: Int64) throws
    /// Releases the store; called once, after the last write.
    func close()
}
