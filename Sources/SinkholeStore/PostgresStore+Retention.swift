import Logging
import NIOCore
import PostgresNIO
import SinkholeCore

/// Retention: old `checkins` partitions dropped, old summary rows deleted, hourly, on a
/// connection of its own.
extension PostgresStore {
    /// Starts retention on a connection of its own when an hour has passed since the last
    /// run: the writer thread only checks the time and goes on, so a long DELETE never holds
    /// back a batch (dropping a partition takes its table's lock for an instant). A failure is
    /// logged once per state change and tried again an hour later.
    /// `CheckInStore`'s retention step: PostgreSQL sweeps on its own connection (started after
    /// a batch, or here when due), so the writer's thread deletes nothing. The days come from
    /// the configuration given at `init` (`store.retention_days`), the same the writer holds.
    public func enforceRetention(_ retention: SinkholeStore.Retention, now: UTCTime, limit: Int) throws -> Int {
        enforceRetentionIfDue()
        return 0
    }

    func enforceRetentionIfDue() {
        guard retention.checkins != nil || retention.infections != nil || retention.dnsQueries != nil else { return }
        let now = clock()
        if let last = retentionCheckedAt, now.microseconds - last.microseconds < 3_600_000_000, now >= last { return }
        guard retentionState.withLockedValue({ state in
            guard !state.running else { return false }
            state.running = true
            return true
        }) else { return }
        retentionCheckedAt = now
        let future = runRetention(now: now)
        let logger = logger
        let state = retentionState
        future.whenComplete { result in
            let (wasFailing, failing) = state.withLockedValue { state in
                let wasFailing = state.failing
                state.running = false
                if case .success(let days) = result { state.dropped.formUnion(days); state.failing = false } else { state.failing = true }
                return (wasFailing, state.failing)
            }
            if case .failure(let error) = result, !wasFailing {
                logger.warning("store retention failed; tried again in an hour", metadata: ["store.error": "\(Self.describe(error))"])
            } else if wasFailing && !failing {
                logger.notice("store retention works again")
            }
        }
    }

    /// Removes what is older than each table's retention, counted in whole UTC days before
    /// today's midnight, and waits for it (tests; a future `sinkhole prune`).
    public func enforceRetention(now: UTCTime) throws {
        guard let result = FutureOutcome.wait(for: runRetention(now: now), timeout: timeout * 6) else {
            throw PostgresStoreError(message: "enforcing retention: no answer within \(timeout * 6)", location: location)
        }
        do {
            let days = try result.get()
            retentionState.withLockedValue { $0.dropped.formUnion(days) }
        } catch {
            throw PostgresStoreError(message: "enforcing retention: \(Self.describe(error))", location: location)
        }
    }

    /// Waits (bounded) until no background retention is running (tests).
    func waitUntilRetentionIdle(timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while retentionState.withLockedValue({ $0.running }) {
            if ContinuousClock.now > deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// Retention's statements on a new connection, closed after; the days whose partitions
    /// were dropped.
    private func runRetention(now: UTCTime) -> EventLoopFuture<Set<Int64>> {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: Set<Int64>.self)
        let (retention, logger, configuration) = (retention, logger, connectionConfiguration)
        // Started from the event loop, not this (writer) thread: a pool thread the task may
        // need would otherwise start at the writer's lowered priority (SinkholeThread).
        eventLoop.execute { promise.completeWithTask {
            var quiet = logger
            quiet.logLevel = .critical
            let connection = try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 0, logger: quiet)
            do {
                let dropped = try await Self.applyRetention(retention, now: now, on: connection, logger: logger)
                try await connection.close()
                return dropped
            } catch {
                try? await connection.close()
                throw error
            }
        } }
        return promise.futureResult
    }

    private static func applyRetention(_ retention: Retention, now: UTCTime, on connection: PostgresConnection,
                                       logger: Logger) async throws -> Set<Int64> {
        let today = now.dayStart.seconds
        var dropped: Set<Int64> = []
        if let days = retention.checkins {
            let cutoff = today - Int64(days) * 86_400
            let rows = try await connection.query("""
                SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'checkins' ORDER BY 1
                """, logger: logger)
            var names: [String] = []
            for try await name in rows.decode(String.self) { names.append(name) }
            for name in names where PostgresSchema.partition(name, isBefore: cutoff) {
                try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(name)"), logger: logger)
                logger.info("store partition dropped by retention", metadata: ["store.partition": "\(name)"])
                if let day = PostgresSchema.partitionDay(name) { dropped.insert(day) }
            }
        }
        if let days = retention.infections {
            let cutoff = UTCTime(seconds: today - Int64(days) * 86_400).dayString
            try await connection.query("DELETE FROM infections WHERE day < \(cutoff)", logger: logger)
            // The summaries follow what they summarise, as in SQLiteStore.keyedRetention.
            try await connection.query("DELETE FROM infection_days WHERE day < \(cutoff)", logger: logger)
            let hour = today - Int64(days) * 86_400
            try await connection.query("DELETE FROM service_hours WHERE hour < \(hour)", logger: logger)
            try await connection.query("DELETE FROM name_hours WHERE hour < \(hour)", logger: logger)
        }
        if let days = retention.dnsQueries {
            let cutoff = today - Int64(days) * 86_400
            try await connection.query("DELETE FROM dns_queries WHERE hour < \(cutoff)", logger: logger)
            try await connection.query("DELETE FROM resolver_hours WHERE hour < \(cutoff)", logger: logger)
        }
        return dropped
    }
}
