import SinkholeCore
import SinkholeStore
import Synchronization

struct InjectedStoreFailure: Error {}

/// A `CheckInStore` that forwards to a real store but refuses the writes `fails` picks
/// (by 1-based attempt number), counting every attempt.
final class FlakyStore: CheckInStore, Sendable {
    private let inner: any CheckInStore
    private let fails: @Sendable (Int) -> Bool
    private let attemptCount = Mutex(0)
    private let closedFlag = Mutex(false)

    init(_ inner: any CheckInStore, fails: @escaping @Sendable (Int) -> Bool) {
        self.inner = inner
        self.fails = fails
    }

    var attempts: Int { attemptCount.withLock { $0 } }
    var closed: Bool { closedFlag.withLock { $0 } }

    func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        try inner.beginRun(node: node, startedAt: startedAt)
    }

    func write(_ batch: StoreBatch, node: String, run: Int64) throws {
        let attempt = attemptCount.withLock { count in
            count += 1
            return count
        }
        if fails(attempt) { throw InjectedStoreFailure() }
        try inner.write(batch, node: node, run: run)
    }

    /// Sweeps fail with the writes `fails` picks too (a store that cannot write cannot delete).
    func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
        let attempt = attemptCount.withLock { count in
            count += 1
            return count
        }
        if fails(attempt) { throw InjectedStoreFailure() }
        return try inner.enforceRetention(retention, now: now, limit: limit)
    }

    func close() {
        closedFlag.withLock { $0 = true }
        inner.close()
    }
}

/// Stands in for `Writer.start()` when a test drives the writer by hand: the writer records its
/// run only in `start()`, which also starts its thread, so a hand-driven writer writes with run
/// id 0. This double begins a real run on the first write and sends that run's id instead.
final class RunBeginningStore: CheckInStore, Sendable {
    private let inner: any CheckInStore
    private let startedAt: UTCTime
    private let run = Mutex<Int64?>(nil)

    init(_ inner: any CheckInStore, startedAt: UTCTime) {
        self.inner = inner
        self.startedAt = startedAt
    }

    func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        let id = try inner.beginRun(node: node, startedAt: startedAt)
        run.withLock { $0 = id }
        return id
    }

    func write(_ batch: StoreBatch, node: String, run requested: Int64) throws {
        let id = try run.withLock { run in
            if let run { return run }
            let id = try inner.beginRun(node: node, startedAt: startedAt)
            run = id
            return id
        }
        try inner.write(batch, node: node, run: id)
    }

    func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
        try inner.enforceRetention(retention, now: now, limit: limit)
    }

    func close() { inner.close() }
}
