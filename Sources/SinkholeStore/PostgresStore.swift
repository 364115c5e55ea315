import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO
import SinkholeCore
import Synchronization

/// The several-node store: one PostgreSQL database that every sinkhole node writes into, one
/// transaction per batch, rows merged by `INSERT … ON CONFLICT DO UPDATE` exactly as
/// `SQLiteStore` merges them, so any number of nodes can write the same tables (sessions a
/// batch opens are copied in without a merge: `writeCheckIns`).
///
/// `CheckInStore` is synchronous and called from the writer's threads; postgres-nio is not. The
/// store owns one `PostgresConnection` on its own one-thread event loop group and the calling
/// thread (the writer's commit thread, or the writer's own) waits for each statement on a
/// semaphore with a timeout: neither is an event loop, so waiting there blocks nothing else,
/// and no event loop ever waits.
///
/// Any failure (a dropped connection, a timeout, a refused statement) closes the connection
/// and throws, so the writer's retry with backoff takes over; the next attempt connects again.
/// A batch is one transaction, so a retried batch is stored once.
// @unchecked Sendable: the writer owns the store and calls it from one thread at a time (its
// own under its lock, or its commit thread, handed each batch through a semaphore), as for
// SQLiteStore; the mutable state below is touched only by that caller.
public final class PostgresStore: CheckInStore, @unchecked Sendable {
    /// Tables' retention in days; nil keeps a table forever.
    public struct Retention: Sendable, Equatable {
        public var checkins: Int?
        public var infections: Int?
        public var dnsQueries: Int?

        public init(checkins: Int? = nil, infections: Int? = nil, dnsQueries: Int? = nil) {
            self.checkins = checkins
            self.infections = infections
            self.dnsQueries = dnsQueries
        }
    }

    public let location: PostgresLocation
    /// How long one statement (or connecting) may take before the attempt is abandoned.
    public let timeout: Duration
    let retention: Retention
    let logger: Logger
    let clock: @Sendable () -> UTCTime
    let group: MultiThreadedEventLoopGroup
    private var connection: PostgresConnection?
    private var nextConnectionID = 1
    /// Days whose `checkins` partition is known to exist (created or seen by this store).
    private var partitions: Set<Int64> = []
    /// When retention last ran; it runs at most hourly, after a committed batch.
    var retentionCheckedAt: UTCTime?
    /// Shared with the background retention: whether it runs, whether it last failed, and
    /// the days whose partitions it dropped (the writer forgets them, to create them again if
    /// a late check-in needs one).
    let retentionState = NIOLockedValueBox(RetentionState())

    struct RetentionState: Sendable {
        var running = false
        var failing = false
        var dropped: Set<Int64> = []
    }

    /// Connects, migrates the schema to the latest version and returns the open store. Throws
    /// a `PostgresStoreError` naming the location (never the password) when the server cannot
    /// be reached or refuses.
    public init(location: PostgresLocation, retention: Retention = Retention(), timeout: Duration = .seconds(10),
                logger: Logger, clock: @escaping @Sendable () -> UTCTime = UTCTime.now) throws {
        self.location = location
        self.retention = retention
        self.timeout = timeout
        self.logger = logger
        self.clock = clock
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try migrate()
        } catch {
            close()
            throw error
        }
    }

    deinit {
        try? group.syncShutdownGracefully()
    }

    // MARK: CheckInStore

    public func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
        try attempt("recording the run") {
            var binds = PostgresBindings()
            binds.append(node)
            binds.append(startedAt.microseconds)
            let result = try query("INSERT INTO runs (node, started_at) VALUES ($1, $2) RETURNING run_id", binds)
            guard let row = result.rows.first else { throw PostgresStoreError(message: "INSERT into runs returned no id", location: location) }
            return try row.decode(Int64.self)
        }
    }

    /// Commits one batch in one transaction. Idempotent: a COMMIT whose answer was lost (the
    /// connection dropped as it committed) looks like a failure to the writer, which retries
    /// the same batch. The run's stored counters, read under `FOR UPDATE`, tell whether the
    /// batch is already in: a batch with events raises `runs.stored` to its own `stored`, and
    /// nothing else writes that run. The node's counters add the difference from the runs row,
    /// so they too are exact whatever was retried.
    public func write(_ batch: StoreBatch, node: String, run: Int64) throws {
        try attempt("writing a batch") {
            try createPartitions(for: batch)
            try simple("BEGIN")
            var binds = PostgresBindings()
            binds.append(run)
            let current = try query("SELECT offered, stored, dropped FROM runs WHERE run_id = $1 FOR UPDATE", binds)
            // A write for a run that was never begun would otherwise succeed and record nothing.
            guard let row = current.rows.first else {
                throw PostgresStoreError(message: "run \(run) was never begun", location: location)
            }
            let (offered, stored, dropped) = try row.decode((Int64, Int64, Int64).self)
            let previous = RunCounters(offered: Int(offered), stored: Int(stored), dropped: Int(dropped))
            let counters = batch.counters
            // A writer's batch with rows always raises `stored` above 0; a caller that sends
            // rows without counters (tests) is never taken for a retry.
            let alreadyStored = !batch.isEmpty && counters.stored > 0 && previous == counters
            if !alreadyStored {
                try writeRows(batch, node: node)
            }
            binds = PostgresBindings()
            binds.append(run)
            binds.append(Int64(counters.offered))
            binds.append(Int64(counters.stored))
            binds.append(Int64(counters.dropped))
            binds.append(batch.finishedAt?.microseconds)
            try query("""
                UPDATE runs SET offered = $2, stored = $3, dropped = $4, stopped_at = coalesce($5, stopped_at)
                WHERE run_id = $1
                """, binds)
            var names: [String] = []
            var deltas: [Int64] = []
            for (name, delta) in [("offered", counters.offered - previous.offered),
                                  ("stored", counters.stored - previous.stored),
                                  ("dropped", counters.dropped - previous.dropped)] where delta != 0 {
                names.append(name)
                deltas.append(Int64(delta))
            }
            if !names.isEmpty {
                var binds = PostgresBindings()
                binds.append(node)
                binds.append(names)
                binds.append(deltas)
                try query("""
                    INSERT INTO counters AS c (node, name, value) SELECT $1, u.name, u.value FROM unnest($2::text[], $3::int8[]) AS u(name, value)
                    ON CONFLICT (node, name) DO UPDATE SET value = c.value + excluded.value
                    """, binds)
            }
            try simple("COMMIT")
        }
        enforceRetentionIfDue()
    }

    public func close() {
        if let connection {
            let closed: EventLoopFuture<Void> = connection.close()
            _ = try? self.wait(closed)
            self.connection = nil
        }
    }

    // MARK: Rows

    private func writeRows(_ batch: StoreBatch, node: String) throws {
        try writeCheckIns(batch.checkIns, node: node)
        if !batch.infections.isEmpty {
            try query(Self.upsertInfections, PostgresRows.infections(batch.infections))
        }
        if !batch.dnsQueries.isEmpty {
            try query(Self.upsertDNSQueries, PostgresRows.dnsQueries(batch.dnsQueries))
        }
        let summary = batch.summary
        if !summary.services.isEmpty {
            try query(Self.addServiceHours, PostgresRows.serviceHours(summary.services))
        }
        if !summary.names.isEmpty {
            try query(Self.addNameHours, PostgresRows.nameHours(summary.names))
        }
        if !summary.resolvers.isEmpty {
            try query(Self.addResolverHours, PostgresRows.resolverHours(summary.resolvers))
        }
    }

    /// Sessions this batch opened are copied straight into `checkins` (`COPY`, no merge);
    /// delta rows of sessions stored before are copied into a temporary table and merged from
    /// there by the upsert. A new session whose key is already stored (a capture replayed
    /// twice) makes the whole `COPY` fail with a unique violation: it is undone to the
    /// savepoint and those rows take the merging way too, so they count as they always did.
    private func writeCheckIns(_ rows: [CheckInRow], node: String) throws {
        // The merge must not meet a key twice; the deduplicator keeps one row per session.
        assert(Set(rows.map(\.eventID)).count == rows.count, "a batch repeats a check-in's event id")
        // Rows are about 2 KiB: a batch that only opens sessions (or only continues them) is
        // passed on as it is, not copied by a filter.
        let opens = rows.count(where: \.opensSession)
        var (opening, merging) = opens == rows.count ? (rows, []) : opens == 0 ? ([], rows)
            : (rows.filter(\.opensSession), rows.filter { !$0.opensSession })
        if !opening.isEmpty {
            try simple("SAVEPOINT opening_sessions")
            do {
                try copy(into: "checkins", opening, node: node)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.uniqueViolation {
                try simple("ROLLBACK TO SAVEPOINT opening_sessions")
                merging += opening
            }
        }
        guard !merging.isEmpty else { return }
        // Per connection and rolled back with a failed batch, so asked for each time it is needed.
        try simple(Self.createIncomingCheckIns)
        try copy(into: "checkins_incoming", merging, node: node)
        try simple(Self.mergeCheckIns)
    }

    static let uniqueViolation = "23505"

    /// Creates the partitions a batch needs in a short transaction of their own, before the
    /// batch's. Under the schema's advisory lock: two nodes creating the same day's partition
    /// at the same moment would otherwise race past `IF NOT EXISTS` and one would fail.
    private func createPartitions(for batch: StoreBatch) throws {
        var days: Set<Int64> = []
        for row in batch.checkIns {
            let start = UTCTime(microseconds: PostgresSchema.sessionStart(eventID: row.eventID) ?? row.checkIn.time.microseconds)
            days.insert(start.dayStart.seconds)
        }
        let dropped = retentionState.withLockedValue { state in
            defer { state.dropped = [] }
            return state.dropped
        }
        partitions.subtract(dropped)
        let missing = days.subtracting(partitions).sorted()
        guard !missing.isEmpty else { return }
        try simple("BEGIN")
        try simple("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))")
        for day in missing { try simple(PostgresSchema.createPartition(day: day)) }
        try simple("COMMIT")
        partitions.formUnion(missing)
    }

    // MARK: Schema

    private func migrate() throws {
        try attempt("migrating the schema") {
            try simple("BEGIN")
            try simple("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))")
            try simple("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)")
            let applied = Set(try query("SELECT version FROM schema_migrations", PostgresBindings()).rows.map { try $0.decode(Int32.self) })
            if let newest = applied.max(), Int(newest) > PostgresSchema.latestVersion {
                throw PostgresStoreError(message: "schema version \(newest) is newer than this sinkhole (\(PostgresSchema.latestVersion))",
                                         location: location)
            }
            for migration in PostgresSchema.migrations.sorted(by: { $0.version < $1.version })
            where !applied.contains(Int32(migration.version)) {
                logger.notice("migrating the PostgreSQL schema", metadata: ["store.schema_version": "\(migration.version)"])
                // A migration may rebuild an index over every stored check-in: not held to the
                // per-statement timeout of a batch.
                for statement in migration.statements { try simple(statement, timeout: Self.migrationTimeout) }
                try simple("INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), extract(epoch FROM now())::bigint)")
            }
            try simple("COMMIT")
        }
    }

    // MARK: Connection

    /// Runs `body` on a live connection (connecting first when there is none). Any error drops
    /// the connection, so a half-done transaction is abandoned (the server rolls it back) and
    /// the next attempt starts clean; the error names what was being done and where.
    private func attempt<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            // A connection the server closed (restarted, terminated it) is replaced up front:
            // a statement sent on it would only fail after the timeout.
            if let open = connection, open.isClosed { dropConnection() }
            if connection == nil { try connect() }
            return try body()
        } catch {
            dropConnection()
            partitions = []
            if let error = error as? PostgresStoreError { throw error }
            throw PostgresStoreError(message: "\(what): \(Self.describe(error))", location: location)
        }
    }

    var connectionConfiguration: PostgresConnection.Configuration { location.connectionConfiguration }

    private func connect() throws {
        var quiet = logger
        quiet.logLevel = .critical
        let id = nextConnectionID
        nextConnectionID += 1
        connection = try wait(PostgresConnection.connect(on: group.next(), configuration: connectionConfiguration, id: id, logger: quiet))
    }

    private func dropConnection() {
        if let connection {
            // Not waited for: the connection may be the thing that hangs.
            let closed: EventLoopFuture<Void> = connection.close()
            // Held until closed: postgres-nio asserts that a connection is closed before it is freed.
            closed.whenComplete { _ in withExtendedLifetime(connection) {} }
            self.connection = nil
        }
    }

    @discardableResult
    private func query(_ sql: String, _ binds: PostgresBindings) throws -> PostgresQueryResult {
        guard let connection else { throw PostgresStoreError(message: "not connected", location: location) }
        return try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger))
    }

    /// `COPY table (columns) FROM STDIN` of `rows`, in COPY's text format. postgres-nio offers
    /// COPY only to async code: a task runs it and this (non-event-loop) thread waits. The
    /// task runs on the store's own event loop, not on Swift's shared pool: that pool has a
    /// thread per core, and callers that block their pool thread on a store (tests, a command)
    /// would leave the task no thread to run on.
    ///
    /// The rows are encoded first and sent in one message, then the COPY is ended at once:
    /// postgres-nio 1.33 traps when a connection is closed while a COPY is still sending
    /// (waiting for the socket to drain between messages, or cancelled there), and a
    /// timed-out write closes it. Sent whole, the COPY leaves the sending state as soon as it
    /// has begun; what is left is waiting for the server's answer, where closing is safe.
    private func copy(into table: String, _ rows: [CheckInRow], node: String) throws {
        guard let connection else { throw PostgresStoreError(message: "not connected", location: location) }
        let data = PostgresCopyRows.checkIns(rows, node: node)
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let logger = self.logger
        Task(executorPreference: EventLoopTaskExecutor(loop)) {
            do {
                try await connection.copyFrom(table: table, columns: PostgresCopyRows.checkInColumns, logger: logger) { writer in
                    try await writer.write(data)
                }
                promise.succeed()
            } catch {
                promise.fail(error)
            }
        }
        try wait(promise.futureResult)
    }

    /// One statement through the simple query protocol (DDL, BEGIN/COMMIT, no parameters).
    private func simple(_ sql: String, timeout: Duration? = nil) throws {
        guard let connection else { throw PostgresStoreError(message: "not connected", location: location) }
        _ = try wait(connection.simpleQuery(sql), timeout: timeout)
    }

    /// How long one migration statement may take.
    static let migrationTimeout: Duration = .seconds(3600)

    /// Blocks the calling thread (the writer's, never an event loop) until `future` completes
    /// or `timeout` passes.
    private func wait<T: Sendable>(_ future: EventLoopFuture<T>, timeout: Duration? = nil) throws -> T {
        let timeout = timeout ?? self.timeout
        guard let result = FutureOutcome.wait(for: future, timeout: timeout) else {
            throw PostgresStoreError(message: "no answer within \(timeout)", location: location)
        }
        return try result.get()
    }

    /// The server's own message for a refused statement (postgres-nio's description hides it).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}

/// Runs a task's jobs on one event loop: async library code (postgres-nio's COPY) driven from
/// the store's own thread instead of Swift's shared cooperative pool.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A future's result handed from its event loop to a waiting thread.
final class FutureOutcome<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    /// Blocks the calling thread — never an event loop — until `future` completes or
    /// `timeout` passes (nil).
    static func wait(for future: EventLoopFuture<T>, timeout: Duration) -> Result<T, any Error>? {
        let outcome = FutureOutcome()
        future.whenComplete { result in
            outcome.result.withLock { $0 = result }
            outcome.done.signal()
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        guard outcome.done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return nil }
        return outcome.result.withLock { $0 }
    }
}

/// A PostgreSQL store failure: what failed, where (the location without its password) and
/// the server's or the connection's reason.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let message: String
    public let location: PostgresLocation

    public var description: String { "\(location): \(message)" }
}
