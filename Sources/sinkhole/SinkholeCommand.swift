import ArgumentParser
import Foundation
import Logging
import SinkholeFeeds
import SinkholeServer
import SinkholeStore

struct SinkholeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sinkhole",
        abstract: "Stand in for seized botnet command-and-control servers and log every check-in.",
        discussion: """
        sinkhole answers DNS for seized C&C domains with the sinkhole's own addresses, records \
        every query and connection as a check-in (UTC time, source address and port), and stores \
        them in SQLite (one node) or PostgreSQL (several nodes, store.postgres) for per-ISP \
        infected-address lists.

        Exit status: 0 on a clean stop, 1 when the server could not start or lost events, \
        2 for a configuration error.
        """,
        version: SinkholeVersion.string,
        subcommands: [Run.self, CheckConfig.self, Stats.self, ReplayCommand.self, ExportCommand.self],
        defaultSubcommand: nil
    )
}

/// Options shared by every subcommand that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("The configuration file (YAML).", valueName: "file"))
    var config: String = "/etc/sinkhole/sinkhole.yaml"

    /// Loads and validates the configuration, printing every problem and exiting with status 2.
    func load() throws -> SinkholeConfiguration {
        do {
            return try SinkholeConfiguration.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("sinkhole: configuration errors:\n\(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the sinkhole until SIGTERM or SIGINT.",
        discussion: """
        Loads the seized domain lists, opens the store (a PostgreSQL server that cannot be \
        reached stops the start, exit status 1), binds every listener, then serves. On \
        SIGTERM or SIGINT it stops accepting, drains every event ring into the store and exits 0; \
        the run's counters (offered, stored, dropped) are kept in the store's `runs` table.
        """)

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    func run() async throws {
        let configuration = try options.load()
        let journal = LoggingSystem.bootstrapStandardError(level: logLevel)
        let logger = Logger(label: "sinkhole")
        logger.info("starting", metadata: ["version": "\(SinkholeVersion.string)", "config": "\(options.config)",
                                           "node": "\(configuration.node)"])
        // Under systemd (Type=notify): readiness, status, reloads, shutdown and watchdog pings.
        let serviceManager = ServiceManagerNotifier(environment: ProcessInfo.processInfo.environment, logger: logger)
        serviceManager?.status("loading the seized names, certificates and feeds")
        let outcome: Writer.Outcome
        do {
            let sinkhole = try Sinkhole(configuration: configuration, logger: logger)
            outcome = try await sinkhole.run(serviceManager: serviceManager)
        } catch {
            logger.critical("cannot run", metadata: ["error": "\(error)"])
            serviceManager?.status("cannot run: \(error)")
            // The journal has it from the critical line, at its priority.
            if !journal { FileHandle.standardError.write(Data("sinkhole: \(error)\n".utf8)) }
            throw ExitCode(1)
        }
        let counters = outcome.counters
        serviceManager?.status("stopped: \(counters.stored) check-ins stored, \(counters.dropped) dropped, \(outcome.lost) lost")
        if outcome.lost > 0 { throw ExitCode(1) }
        logger.info("stopped cleanly")
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and the domain lists it names, without starting.",
        discussion: """
        Prints each configuration problem as file:line:column: key: message and exits 2 if there \
        is any. A configured TLS certificate and key are read and checked to match; the capture's \
        source (capture.interface or capture.file, with its link type) is printed. Domain list lines that are not usable names are listed as warnings (the server \
        skips them); a missing or unreadable list is an error. With a feeds section, the prefix2as \
        files and the ISP directory are loaded too, and a bad line in either is an error naming file and line.
        """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try options.load()
        do {
            let warnings = try Sinkhole.checkSupported(configuration)
            // Reads and checks a configured certificate and key (or signs the default one).
            _ = try Sinkhole.makeTLSCertificates(configuration)
            let lists = try Sinkhole.checkDomainLists(configuration)
            // The feed files only when a feeds section asks for feeds.
            let feeds = configuration.feeds.isConfigured ? try configuration.feeds.load() : nil
            // And the feed API's certificate and key, read and checked to match.
            _ = try Sinkhole.feedTLSContext(configuration)
            let capture = try Sinkhole.captureSummary(configuration)
            // The account of `user:`/`group:` must exist on this host.
            try Sinkhole.checkAccount(configuration)
            print("\(options.config): OK (node \(configuration.node), \(configuration.families.count) families, \(lists.names) seized names, \(lists.skipped.count) list lines skipped)")
            if let capture { print(capture.line) }
            if let feeds { print("feeds: \(feeds.summary)") }
            for warning in warnings + [capture?.warning].compactMap({ $0 }) { print("warning: \(warning)") }
            for line in lists.skipped { print("warning: skipped \(line)") }
        } catch {
            FileHandle.standardError.write(Data("sinkhole: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension LoggingSystem {
    /// Logs to standard error at `level`: with syslog priority prefixes and no timestamps when
    /// standard error is systemd's journal stream (`JOURNAL_STREAM` names it), plain lines
    /// with timestamps otherwise. Returns whether standard error is the journal.
    @discardableResult
    static func bootstrapStandardError(level: Logger.Level) -> Bool {
        let journal = JournalStream.carriesStandardError(environment: ProcessInfo.processInfo.environment)
        bootstrap { label in JournalStream.standardErrorHandler(label: label, level: level, journal: journal) }
        return journal
    }
}
