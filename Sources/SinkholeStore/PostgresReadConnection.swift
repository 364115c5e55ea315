import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A connection that only reads, for the commands and services that query a PostgreSQL store
/// beside the nodes writing it (`sinkhole stats`, the exports and the feed API). Synchronous,
/// like `PostgresStore`: the caller's thread (never an event loop) waits for each query, for
/// at most `timeout`; every failure is a `PostgresStoreError` naming the location, never the
/// password.
final class PostgresReadConnection {
    let location: PostgresLocation
    let timeout: Duration
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let connection: PostgresConnection
    private let logger: Logger

    init(location: PostgresLocation, timeout: Duration, label: String) throws {
        self.location = location
        self.timeout = timeout
        var quiet = Logger(label: label)
        quiet.logLevel = .critical
        logger = quiet
        do {
            connection = try Self.wait(PostgresConnection.connect(on: group.next(), configuration: location.connectionConfiguration,
                                                                  id: 1, logger: quiet),
                                       "connecting", location: location, timeout: timeout)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    deinit {
        let closed: EventLoopFuture<Void> = connection.close()
        _ = FutureOutcome.wait(for: closed, timeout: timeout)
        try? group.syncShutdownGracefully()
    }

    /// Every row of `sql`; `what` says in an error what was being read.
    func rows(_ what: String, _ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [PostgresRow] {
        try Self.wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger), what,
                      location: location, timeout: timeout).rows
    }

    /// Whether migration `version` has been applied (migrations are applied by number, not
    /// in order: `PostgresSchema`); throws when the database is not a sinkhole store at all.
    func hasMigration(_ version: Int) throws -> Bool {
        let isStore = try rows("reading the schema version", "SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard try isStore.first?.decode(Bool.self) == true else {
            throw PostgresStoreError(message: "not a sinkhole store (no schema_migrations table)", location: location)
        }
        let applied = try rows("reading the schema version", "SELECT count(*) FROM schema_migrations WHERE version = \(version)")
        return try applied.first?.decode(Int64.self) == 1
    }

    private static func wait<T: Sendable>(_ future: EventLoopFuture<T>, _ what: String, location: PostgresLocation,
                                          timeout: Duration) throws -> T {
        guard let result = FutureOutcome.wait(for: future, timeout: timeout) else {
            throw PostgresStoreError(message: "\(what): no answer within \(timeout)", location: location)
        }
        do {
            return try result.get()
        } catch {
            throw PostgresStoreError(message: "\(what): \(PostgresStore.describe(error))", location: location)
        }
    }
}
