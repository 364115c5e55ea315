import ArgumentParser
import Foundation
import SinkholeCore
import SinkholeFeeds
import SinkholeServer
import SinkholeStore

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write one UTC day's check-ins per ISP: Shadowserver-compatible CSVs and JSON Lines.",
        discussion: """
        For each ISP of feeds.isps (or the one named), writes into OUT/<isp>/ only the records \
        whose source address belongs to that ISP (its most specific CIDR, else its ASN from \
        feeds.asn_map; feeds.ignore networks go to no one):
          YYYY-MM-DD-event4_sinkhole_http-<node>.csv   HTTP requests (plain, or inside TLS)
          YYYY-MM-DD-event6_sinkhole_http-<node>.csv   the same from IPv6 sources
          YYYY-MM-DD-event4_sinkhole-<node>.csv        TLS without a request, raw TCP/UDP, packets
          YYYY-MM-DD-event6_sinkhole-<node>.csv        the same from IPv6 sources
          YYYY-MM-DD-event4_sinkhole_dns-<node>.csv    DNS queries for seized names, per hour
          YYYY-MM-DD-checkins-<node>.jsonl              all of the above as JSON Lines
          YYYY-MM-DD-infections-<node>.jsonl            one line per infected address and family
          MANIFEST.sha256                               sha256sum -c of every export file there
        The CSVs carry Shadowserver's exact header rows, so IntelMQ's Shadowserver parser reads \
        them unchanged. Which files an ISP gets follows its `formats` (shadowserver, jsonl), \
        or --format; the infections file is always written, empty when there were none. \
        Check-ins with no family (scanners reaching the sinkhole's own addresses) are left out.

        Text the bots sent is written as received where it is printable UTF-8; control bytes \
        and invalid UTF-8 appear as \\xNN and a backslash as \\\\, so every row is one line and \
        nothing is altered beyond recovery. Files are written atomically (a temporary file, \
        fsync, rename); exporting the same day again gives the same bytes.

        Exit status: 0 when written, 1 when the store, the feeds files or the output cannot \
        be read or written, 2 for a configuration error, 64 for bad arguments.

        Examples:
          sinkhole export --all                       # yesterday (UTC), every ISP
          sinkhole export --date 2026-11-28 --isp example-isp --out /tmp/feeds
        """)

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("The UTC day to export (default: yesterday).", valueName: "YYYY-MM-DD"))
    var date: String?

    @Option(help: ArgumentHelp("Only this ISP (repeat for several).", valueName: "name"))
    var isp: [String] = []

    @Flag(help: "Every ISP in feeds.isps.")
    var all = false

    @Option(help: ArgumentHelp("Write only this format (shadowserver or jsonl) instead of each ISP's own.", valueName: "format"))
    var format: FeedFormat?

    @Option(help: ArgumentHelp("The output directory (default: feeds.export_dir).", valueName: "dir"))
    var out: String?

    @Option(help: ArgumentHelp("Read this SQLite file instead of the configuration's store.", valueName: "file"))
    var store: String?

    func validate() throws {
        if let date, FeedRequest.parseDay(date) == nil {
            throw ValidationError("--date \(date): expected a UTC date as YYYY-MM-DD")
        }
        if all == !isp.isEmpty {
            throw ValidationError(all ? "give either --all or --isp, not both" : "name the ISPs to export: --isp NAME (repeatable) or --all")
        }
    }

    func run() async throws {
        let configuration = try options.load()
        let day = date.flatMap(FeedRequest.parseDay) ?? UTCTime(seconds: UTCTime.now().dayStart.seconds - 86_400)
        let attributor: AddressAttributor
        do {
            attributor = try configuration.feeds.load()
        } catch {
            fail("\(error)", status: 2)
        }
        let directory = attributor.directory
        var chosen: [ISP] = []
        if all {
            chosen = directory.isps
        } else {
            for name in isp {
                guard let found = directory.isp(named: name) else {
                    fail("no ISP named \(name.debugDescription) in \(configuration.feeds.isps) (known: \(directory.isps.map(\.name).joined(separator: ", ")))", status: 64)
                }
                chosen.append(found)
            }
        }
        let reader: any StoredDayReader
        do {
            if let store {
                // SQLite would create a missing file; an export must not.
                guard FileManager.default.fileExists(atPath: store) else { fail("no store at \(store)") }
                reader = try SQLiteDayReader(path: store)
            } else if configuration.store.postgres == nil && !FileManager.default.fileExists(atPath: configuration.store.sqlite) {
                fail("no store at \(configuration.store.sqlite)")
            } else {
                reader = try configuration.store.dayReader()
            }
        } catch {
            fail("\(error)")
        }
        let export = DailyExport(.init(day: day, node: configuration.node, outputDirectory: out ?? configuration.feeds.exportDir,
                                       isps: chosen, formats: format.map { [$0] }))
        let progress = ExportProgress(enabled: isatty(STDERR_FILENO) == 1)
        let summary: DailyExport.Summary
        do {
            summary = try export.run(reader: reader, attributor: attributor) { read, total in progress.show(read, total) }
        } catch {
            progress.clear()
            fail("\(error)")
        }
        progress.clear()
        let outDirectory = out ?? configuration.feeds.exportDir
        print("\(day.dayString): \(summary.read) records read, \(summary.ignored) from ignored networks, \(summary.unattributed) belonging to no exported ISP")
        for isp in chosen {
            let files = summary.files[isp.name] ?? []
            print("  \(isp.name): \(summary.rows[isp.name] ?? 0) records in \(files.count) files under \(outDirectory)/\(isp.name)")
        }
    }

    private func fail(_ message: String, status: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("sinkhole: export: \(message)\n".utf8))
        Foundation.exit(status)
    }
}

extension FeedFormat: ExpressibleByArgument {}

/// One progress line on stderr, rewritten in place (a terminal only), at most five a second.
final class ExportProgress: @unchecked Sendable {
    // Only touched from the export's own thread.
    let enabled: Bool
    private var shown: ContinuousClock.Instant?

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ read: Int, _ total: Int) {
        guard enabled else { return }
        let now = ContinuousClock.now
        if let shown, now - shown < .milliseconds(200) { return }
        shown = now
        let percent = total > 0 ? min(100, read * 100 / total) : 100
        FileHandle.standardError.write(Data("\r\u{1b}[Kexporting: \(read) of \(total) records (\(percent)%)".utf8))
    }

    func clear() {
        guard enabled, shown != nil else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }
}
