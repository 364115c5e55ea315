import Foundation
import Logging
import SinkholeCore
import SinkholeStore

/// One writer run: events pushed, rows the store ended up with, and how long the writer took.
struct WriterRun {
    var events: Int
    /// Rows in the workload's main table (`checkins` for sessions, `dns_queries` for DNS).
    var rows: Int
    var seconds: Double
    var eventsPerSecond: Double { Double(events) / seconds }
    var rowsPerSecond: Double { Double(rows) / seconds }
}

/// A writer workload: `count` events, event `i` built by `event(i)`.
struct WriterWorkload: Sendable {
    var name: String
    var count: Int
    var table: String
    var event: @Sendable (Int) -> CheckIn
    /// `writer.dns_batch_size`: the server's default unless the workload says otherwise.
    var dnsBatchSize = Writer.Configuration(node: "").dnsBatchSize
}

/// Pushes the whole workload into a ring first, then times the real `Writer` thread
/// (`start()`) from its start until the store has committed every event.
///
/// Pre-fill rather than a live producer thread: on a two-core machine a producer spinning
/// beside the writer takes a core the writer (whose SQLite commits are the work measured here)
/// would otherwise have, and a producer faster than the writer only turns the surplus into
/// drops, so the figure would mix the writer's speed with the ring's drop policy. The ring's
/// own speed under a live producer is the ring benchmark's business. Driving the writer through
/// `start()` (and not `pass()` by hand) measures the production path: its own thread, its lock,
/// the run row created by `beginRun`.
func runWriter(_ workload: WriterWorkload, path: String, timeLimit: Duration = .seconds(60)) async throws -> WriterRun {
    try await runWriter(workload, store: SQLiteStore(path: path), timeLimit: timeLimit) {
        Int(try RawSQLite(path: path).integer("SELECT count(*) FROM \(workload.table)"))
    }
}

/// The same run into any store; `countRows` reads the workload's table back after the writer
/// stopped.
func runWriter(_ workload: WriterWorkload, store: any CheckInStore, timeLimit: Duration = .seconds(60),
               countRows: () throws -> Int) async throws -> WriterRun {
    var slots = 1
    while slots < workload.count { slots <<= 1 }
    let rings = EventRings(slotsPerRing: slots, filler: Fixtures.dnsQuery())
    let ring = rings.register(name: "bench")
    for i in 0..<workload.count {
        precondition(ring.push(workload.event(i)), "the ring holds the whole workload")
    }

    var logger = Logger(label: "sinkhole-bench")
    logger.logLevel = .warning
    // The server's defaults (`writer.batch_size`, the flush interval) but for the DNS bound.
    let writer = Writer(configuration: .init(node: "bench", dnsBatchSize: workload.dnsBatchSize), rings: rings, store: store, logger: logger)

    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + timeLimit
    try writer.start()
    // Polled, not waited on: `stop()` would also time the shutdown checkpoint. 1 ms polls
    // against runs of seconds.
    while writer.committedCounters.stored < workload.count, clock.now < deadline {
        usleep(1000)
    }
    let elapsed = clock.now - start
    let outcome = await writer.stop()
    precondition(outcome.lost == 0 && outcome.counters.dropped == 0, "the writer lost events: \(outcome)")

    let rows = try countRows()
    let (s, atto) = elapsed.components
    return WriterRun(events: Int(outcome.counters.stored), rows: rows,
                     seconds: Double(s) + Double(atto) / 1e18)
}

/// A fresh database path in a new temporary directory, and a way to remove it.
struct ScratchDatabase {
    let directory: String
    var path: String { directory + "/checkins.db" }

    init() throws {
        let template = FileManager.default.temporaryDirectory.path + "/sinkhole-bench-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw RawSQLiteError(message: "mkdtemp failed") }
        directory = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
