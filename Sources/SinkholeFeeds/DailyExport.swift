import SinkholeCore
import SinkholeStore

/// One UTC day of the store, exported per ISP: the Shadowserver-compatible CSVs, the check-ins
/// as JSON Lines, and the day's infected addresses (`…-infections-<node>.jsonl`, always written,
/// empty when the ISP had none, so "nothing found" is told apart from "not exported").
///
/// Each ISP gets `OUT/<isp name>/` and only rows whose source address the attributor gives to
/// it; rows from ignored networks go to no one. The store is read once, whatever the number of
/// ISPs, row by row, and rows are written as they are read, so memory stays flat.
public struct DailyExport {
    public struct Options: Sendable {
        /// Any instant of the UTC day to export.
        public var day: UTCTime
        /// The file-name suffix (`YYYY-MM-DD-<report>-<node>.csv`): the exporting node. Rows keep
        /// their own node in `machine_name` and `event_id`.
        public var node: String
        public var outputDirectory: String
        /// The ISPs to export for.
        public var isps: [ISP]
        /// The formats to write; nil writes each ISP's own `formats`.
        public var formats: Set<FeedFormat>?

        public init(day: UTCTime, node: String, outputDirectory: String, isps: [ISP], formats: Set<FeedFormat>? = nil) {
            self.day = day; self.node = node; self.outputDirectory = outputDirectory
            self.isps = isps; self.formats = formats
        }
    }

    /// What an export wrote and what it left out.
    public struct Summary: Sendable, Equatable {
        /// Rows written per ISP name (check-ins, DNS rows and infections, each counted once
        /// whatever the number of formats).
        public var rows: [String: Int] = [:]
        /// Files written per ISP name.
        public var files: [String: [String]] = [:]
        /// Records read from the store.
        public var read = 0
        /// Records from ignored networks.
        public var ignored = 0
        /// Records whose source belongs to none of the exported ISPs.
        public var unattributed = 0
    }

    /// Progress as records read of the day's total.
    public typealias Progress = (_ read: Int, _ total: Int) throws -> Void

    public let options: Options
    /// Files open at once (`ExportFiles`); lowered by tests to exercise reopening.
    var openFileLimit = ExportFiles.defaultOpenLimit

    public init(_ options: Options) {
        self.options = options
    }

    /// The node as a file-name suffix: IntelMQ's Shadowserver parser takes the report type from
    /// the name and fails the whole file when the suffix holds a dot or other punctuation
    /// (checked with IntelMQ 3.5.0), so anything but letters, digits, `_` and `-` becomes `-`
    /// (`sinkhole1.example.org` → `sinkhole1-example-org`). Rows keep the node as it is.
    public static func fileNameSuffix(_ node: String) -> String {
        String(node.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") ? $0 : "-" })
    }

    public static func infectionsFileName(day: String, node: String) -> String { "\(day)-infections-\(node).jsonl" }
    public static func checkInsFileName(day: String, node: String) -> String { "\(day)-checkins-\(node).jsonl" }

    /// Exports the day. On any error the files of this run are removed and earlier exports
    /// are left as they were.
    @discardableResult
    public func run(reader: some StoredDayReader, attributor: AddressAttributor,
                    progress: Progress = { _, _ in }) throws -> Summary {
        let day = options.day.dayStart
        let dayString = day.dayString
        let node = Self.fileNameSuffix(options.node)
        var targets: [String: Target] = [:]
        for isp in options.isps {
            targets[isp.name] = Target(directory: options.outputDirectory + "/" + isp.name,
                                       formats: options.formats ?? isp.formats)
        }
        let files = ExportFiles(openLimit: openFileLimit)
        var summary = Summary()
        let counts = try reader.counts(day: day)
        let total = counts.checkIns + counts.dnsQueries + counts.infections
        var line = [UInt8]()

        /// The ISP a record goes to, counting what goes nowhere.
        func target(of address: IPAddress) throws -> (Target, String, UInt32)? {
            summary.read += 1
            if summary.read % 10_000 == 0 { try progress(summary.read, total) }
            let attribution = attributor.attribute(address)
            if attribution.ignored {
                summary.ignored += 1
                return nil
            }
            guard let name = attribution.isp, let target = targets[name] else {
                summary.unattributed += 1
                return nil
            }
            summary.rows[name, default: 0] += 1
            return (target, name, attribution.asn)
        }

        /// Writes one record in the target's formats: its Shadowserver report row and its
        /// line of the check-ins JSON Lines file.
        func write(_ target: Target, report: ShadowserverReport, csv: (inout [UInt8]) -> Void, record: () -> FeedRecord) throws {
            if target.formats.contains(.shadowserver) {
                line.removeAll(keepingCapacity: true)
                csv(&line)
                try files.append(line, directory: target.directory, name: report.fileName(day: dayString, node: node),
                                 header: report.headerRow)
            }
            if target.formats.contains(.jsonl) {
                line.removeAll(keepingCapacity: true)
                record().appendJSON(to: &line)
                try files.append(line, directory: target.directory, name: Self.checkInsFileName(day: dayString, node: node))
            }
        }

        do {
            try reader.forEachCheckIn(day: day) { row in
                guard let (target, _, asn) = try target(of: row.source) else { return }
                let report = ShadowserverReport.of(row)
                try write(target, report: report, csv: { ShadowserverRow.checkIn(row, asn: asn, report: report, into: &$0) },
                          record: { .checkIn(row, asn: asn) })
            }
            try reader.forEachDNSQuery(day: day) { row in
                guard let (target, _, asn) = try target(of: row.source) else { return }
                try write(target, report: .event4SinkholeDNS, csv: { ShadowserverRow.dnsQuery(row, asn: asn, into: &$0) },
                          record: { .dnsQuery(row, asn: asn) })
            }
            let infections = Self.infectionsFileName(day: dayString, node: node)
            for target in targets.values {
                try files.touch(directory: target.directory, name: infections)
            }
            try reader.forEachInfection(day: day) { row in
                guard let (target, _, asn) = try target(of: row.source) else { return }
                line.removeAll(keepingCapacity: true)
                FeedRecord.infection(row, asn: asn).appendJSON(to: &line)
                try files.append(line, directory: target.directory, name: infections)
            }
            try progress(summary.read, total)
            for (name, target) in targets.sorted(by: { $0.key < $1.key }) {
                // This day's files of an earlier run that this one did not write (a report
                // that now has no rows, a format the ISP no longer wants) would contradict it.
                let stale = ExportFiles.existingExportFiles(in: target.directory).filter {
                    $0.hasPrefix(dayString + "-") && ($0.hasSuffix("-\(node).csv") || $0.hasSuffix("-\(node).jsonl"))
                }
                summary.files[name] = try files.commit(directory: target.directory, removing: stale)
            }
        } catch {
            files.abandon()
            throw error
        }
        return summary
    }

    struct Target {
        var directory: String
        var formats: Set<FeedFormat>
    }
}
