import ArgumentParser
import Foundation
import SinkholeCore
import SinkholeServer
import SinkholeStore

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise what the store holds: infected addresses, check-ins, names, resolvers, losses.",
        discussion: """
        Reads the store named by the configuration (SQLite, or the PostgreSQL of store.postgres \
        that every node writes; or the SQLite file given by --store) without writing to it, so \
        it can run beside the sinkhole. Sections: distinct infected addresses per UTC day and \
        family; check-in events and sessions per service; the C&C names bots connected to \
        (HTTP Host, TLS SNI); the seized names asked for over DNS; the resolvers asking; and \
        every node's offered, stored and dropped events since the store was created (a node \
        that dropped any is marked LOST).

        Tables on a terminal, JSON when the output is a pipe or a file (--format to choose). \
        Exit status: 0, 1 when the store cannot be read, 2 for a configuration error, 64 for bad arguments.

        Examples:
          sinkhole stats --since 24h
          sinkhole stats --since 2026-11-01 --family conficker --format json | jq .infected_per_day
        """)

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Read this SQLite file instead of the configuration's store.", valueName: "file"))
    var store: String?

    @Option(help: ArgumentHelp("""
        From when: a UTC date (2026-11-29), a UTC time (2026-11-29T06:00Z), or an age (90m, 24h, 7d).
        """, valueName: "time"))
    var since: String = "7d"

    @Option(help: ArgumentHelp("Only this family (resolvers are never split by family).", valueName: "name"))
    var family: String?

    @Option(help: ArgumentHelp("Rows in each top list.", valueName: "n"))
    var limit: Int = 10

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case auto, table, json
    }

    @Option(help: ArgumentHelp("auto (tables on a terminal, JSON otherwise), table or json.", valueName: "format"))
    var format: Format = .auto

    func validate() throws {
        guard StoreStats.parseSince(since, now: .now()) != nil else {
            throw ValidationError("--since \(since): expected a UTC date (2026-11-29), a UTC time (2026-11-29T06:00Z) or an age (90m, 24h, 7d)")
        }
        guard (1...10_000).contains(limit) else { throw ValidationError("--limit \(limit): expected 1 to 10000") }
    }

    func run() async throws {
        // `validate()` refused any --since this cannot read.
        guard let from = StoreStats.parseSince(since, now: .now()) else { throw ExitCode(64) }
        let read: () throws -> StoreStats
        if let store {
            read = { try SQLiteStats.read(path: store, since: from, family: family, limit: limit) }
            try requireFile(store)
        } else {
            let configuration = try options.load()
            let postgres: PostgresLocation?
            do {
                postgres = try configuration.store.postgresLocation()
            } catch {
                FileHandle.standardError.write(Data("sinkhole: \(error)\n".utf8))
                throw ExitCode(1)
            }
            if let location = postgres {
                read = { [location] in try PostgresStats.read(location: location, since: from, family: family, limit: limit) }
            } else {
                let path = configuration.store.sqlite
                try requireFile(path)
                read = { try SQLiteStats.read(path: path, since: from, family: family, limit: limit) }
            }
        }
        let stats: StoreStats
        do {
            stats = try read()
        } catch {
            FileHandle.standardError.write(Data("sinkhole: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let asTable = switch format {
        case .table: true
        case .json: false
        case .auto: isatty(STDOUT_FILENO) == 1
        }
        print(asTable ? stats.tables() : stats.json(), terminator: "")
    }

    /// SQLite would create a missing file; stats must not.
    private func requireFile(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("sinkhole: no store at \(path)\n".utf8))
            throw ExitCode(1)
        }
    }
}
