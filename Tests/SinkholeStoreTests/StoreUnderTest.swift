import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import PostgresTestSupport
import SinkholeCore
@testable import SinkholeStore
import Synchronization
import Testing

/// The two stores the protocol's tests run against, the same tests for both.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// Reads a store's rows back independently of the store's code.
protocol StoreProbe {
    /// Every row of `sql`, every column as an `SQLValue`.
    func rows(_ sql: String) throws -> [[SQLValue]]
    /// "ok" when the store's own integrity check passes (PostgreSQL has none to run: "ok").
    func integrity() throws -> String?
}

extension StoreProbe {
    func integer(_ sql: String) throws -> Int64? {
        guard case .integer(let value)? = try rows(sql).first?.first else { return nil }
        return value
    }
}

extension DatabaseProbe: StoreProbe {
    func integrity() throws -> String? { try text("PRAGMA integrity_check") }
}

/// One empty store of a kind for one test: a fresh SQLite file, or a fresh database in the
/// shared throwaway PostgreSQL cluster. `open()` may be called again for a second node or a
/// restart on the same store.
final class StoreUnderTest {
    let kind: StoreKind
    private let directory: TemporaryDirectory?
    let database: String?
    let cluster: PostgresCluster?

    init(_ kind: StoreKind) throws {
        self.kind = kind
        switch kind {
        case .sqlite:
            directory = try TemporaryDirectory()
            database = nil
            cluster = nil
        case .postgres:
            let cluster = try PostgresCluster.shared()
            self.cluster = cluster
            database = try cluster.makeDatabase()
            directory = nil
        }
    }

    /// The SQLite file.
    var path: String { directory!.path() }

    var location: PostgresLocation {
        // The fixture's URL always parses.
        try! PostgresLocation(url: cluster!.url(database: database!))
    }

    func open(retention: PostgresStore.Retention = .init(),
              clock: @escaping @Sendable () -> UTCTime = UTCTime.now) throws -> any CheckInStore {
        switch kind {
        case .sqlite: return try SQLiteStore(path: directory!.path())
        case .postgres:
            return try PostgresStore(location: location, retention: retention, timeout: .seconds(10),
                                     logger: Logger(label: "test"), clock: clock)
        }
    }

    func probe() throws -> any StoreProbe {
        switch kind {
        case .sqlite: return try DatabaseProbe(directory!)
        case .postgres: return try PostgresProbe(location)
        }
    }
}

/// Reads a PostgreSQL database with its own connection. Values map onto `SQLValue` as SQLite
/// would type them: integers as `.integer`, text as `.text`, and `bytea` as `.text` when it is
/// valid UTF-8 and `.blob` otherwise (what `SQLiteStore` stores as TEXT or BLOB), so the same
/// expectations hold for both stores.
final class PostgresProbe: StoreProbe {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let connection: PostgresConnection

    init(_ location: PostgresLocation) throws {
        let configuration = PostgresConnection.Configuration(
            unixSocketPath: location.socketPath!, username: location.user, password: nil, database: location.database)
        connection = try Self.wait(PostgresConnection.connect(on: group.next(), configuration: configuration, id: 0,
                                                              logger: Logger(label: "probe")))
    }

    deinit {
        let closed: EventLoopFuture<Void> = connection.close()
        _ = try? Self.wait(closed)
        try? group.syncShutdownGracefully()
    }

    func integrity() throws -> String? { "ok" }

    func rows(_ sql: String) throws -> [[SQLValue]] {
        let result = try Self.wait(connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "probe")))
        return try result.rows.map { row in
            try row.map { cell -> SQLValue in
                guard var bytes = cell.bytes else { return .null }
                switch cell.dataType {
                case .int2: return .integer(Int64(try cell.decode(Int16.self)))
                case .int4: return .integer(Int64(try cell.decode(Int32.self)))
                case .int8: return .integer(try cell.decode(Int64.self))
                case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
                case .float4, .float8: return .real(try cell.decode(Double.self))
                case .numeric:
                    // sum() of bigint is numeric: an integer when it has no fraction.
                    let value = try cell.decode(Decimal.self)
                    let number = NSDecimalNumber(decimal: value)
                    if value == Decimal(number.int64Value) { return .integer(number.int64Value) }
                    return .real(number.doubleValue)
                case .bytea:
                    let raw = bytes.readBytes(length: bytes.readableBytes) ?? []
                    if let text = String(validating: raw, as: UTF8.self) { return .text(text) }
                    return .blob(raw)
                default:
                    return .text(try cell.decode(String.self))
                }
            }
        }
    }

    /// Waits for a future on the test's thread, bounded (a hung server fails the test).
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        guard let result = FutureOutcome.wait(for: future, timeout: .seconds(30)) else {
            throw ProbeError(description: "no answer within 30 s")
        }
        return try result.get()
    }
}
