import SinkholeCore
import Dispatch
import Foundation
import Synchronization

/// The store's half of a running writer: one `store.write` at a time, on a thread of its own,
/// so the writer thread folds the next batch while the store commits this one. Folding and
/// committing each take about half of a batch's time at 1:1 (the store's work is in the
/// server for PostgreSQL, in SQLite's B-trees for SQLite); one after the other they add up.
///
/// At most one batch is in flight, and the writer hands the next one over only after it has
/// taken the outcome of the last, so batches are still committed strictly in order and a
/// refused one is retried before anything behind it.
final class CommitThread: Sendable {
    private struct Job: Sendable {
        var batch: StoreBatch
        var node: String
        var run: Int64
    }

    private let store: any CheckInStore
    private let job = Mutex<Job?>(nil)
    private let outcome = Mutex<Result<Duration, any Error>?>(nil)
    private let handed = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)

    init(store: any CheckInStore) {
        self.store = store
        SinkholeThread.start(name: "sinkhole-commit", priority: .storing) { [self] in self.serve() }
    }

    /// Hands `batch` to the thread. The caller must have taken the outcome of the last one.
    func start(_ batch: StoreBatch, node: String, run: Int64) {
        job.withLock { job in
            precondition(job == nil, "a batch handed to the commit thread while another is in flight")
            job = Job(batch: batch, node: node, run: run)
        }
        handed.signal()
    }

    /// The outcome of the batch in flight (how long its `store.write` took, or why it failed),
    /// nil while it is still being committed; `wait` blocks until it is not.
    func outcome(wait: Bool) -> Result<Duration, any Error>? {
        guard finished.wait(timeout: wait ? .distantFuture : .now()) == .success else { return nil }
        return outcome.withLock { $0.take() }
    }

    /// Lets the thread end; no batch may be in flight.
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        handed.signal()
    }

    private func serve() {
        while true {
            handed.wait()
            guard let next = job.withLock({ $0.take() }) else {
                if stopping.load(ordering: .sequentiallyConsistent) { return }
                continue
            }
            // Consumed: no copy of the batch outlives the commit.
            let result = Self.commit(consume next, to: store)
            outcome.withLock { $0 = result }
            finished.signal()
        }
    }

    /// Consumes the job, so the batch is released before the writer hears of the outcome: the
    /// writer's copy is then the only one, and the deduplicator can reuse its rows' memory.
    private static func commit(_ job: consuming Job, to store: any CheckInStore) -> Result<Duration, any Error> {
        let started = ContinuousClock.now
        do {
            try store.write(job.batch, node: job.node, run: job.run)
            return .success(ContinuousClock.now - started)
        } catch {
            return .failure(error)
        }
    }
}
