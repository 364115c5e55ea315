import ArgumentParser
import Foundation
import Logging
import SinkholeCapture
import SinkholeServer
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Store the check-ins in pcap or pcapng files, as if the sinkhole had seen them live.",
        discussion: """
        Reads each file in turn (pcap or pcapng, as tcpdump or Wireshark wrote it) with libpcap \
        and stores every check-in it holds in the configured store, through the same writer and \
        deduplication as `sinkhole run`: each TCP SYN, UDP datagram and ICMP echo request to a \
        sinkhole or seized address (sinkhole_addresses and the families' addresses), with the \
        DNS query of UDP/53 payloads and the HTTP request line, Host and User-Agent of the first \
        segment to TCP/80. Event times are the capture's timestamps, so sessions and daily \
        infection counts come out as they did on the wire.

        Link types read: EN10MB (with 802.1Q/QinQ tags), LINUX_SLL, LINUX_SLL2, RAW, IPV4, \
        IPV6, NULL and LOOP. A file of another link type is counted as skipped.

        On a terminal, progress (packets, bytes, % of the file, rate) is shown on stderr; piped, \
        nothing but the summaries is printed. Each file's summary and the total go to stdout.

        Example: sinkhole replay --config /etc/sinkhole/sinkhole.yaml /srv/evidence/cc-*.pcapng

        Exit status: 0 when every file was read to its end; 1 when a file is missing, \
        unreadable, not a capture, or truncated or damaged (what it held before the damage is \
        stored all the same), or when events were dropped or lost because the store did not keep up \
        or failed; 2 for a configuration error.
        """)

    @Argument(help: ArgumentHelp("Capture files (pcap or pcapng).", valueName: "file"))
    var files: [String]

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one capture file") }
    }

    func run() async throws {
        let configuration = try options.load()
        // The summaries are the output; only problems are logged.
        LoggingSystem.bootstrapStandardError(level: .warning)
        let logger = Logger(label: "sinkhole.replay")
        let progress = ReplayProgress(enabled: isatty(STDERR_FILENO) == 1)
        let outcome: Replay.Outcome
        do {
            outcome = try await Replay(configuration: configuration, logger: logger).run(
                paths: files,
                progress: { progress.show($0) },
                finished: { summary in
                    progress.clear()
                    ReplayReport.printFile(summary)
                })
        } catch {
            FileHandle.standardError.write(Data("sinkhole: replay: \(error)\n".utf8))
            throw ExitCode(1)
        }
        ReplayReport.printTotal(outcome)
        // Replay waits for the writer, so a drop means it stalled (a failing store): the
        // import is incomplete, and the status says so.
        if outcome.total.dropped > 0 || outcome.writer.lost > 0 {
            ReplayReport.stderr("\(outcome.total.dropped) events dropped and \(outcome.writer.lost) lost: the store did not keep up or failed (the log says why)")
        }
        if !outcome.everyFileRead || outcome.total.dropped > 0 || outcome.writer.lost > 0 { throw ExitCode(1) }
    }
}

/// The replay's text output: one summary line per file, problems on stderr, then the total.
enum ReplayReport {
    static func counts(_ c: CaptureCounts) -> String {
        var text = "packets \(c.packets), bytes \(c.bytes), decoded \(c.decoded), events \(c.events), undecodable \(c.undecodable)"
        let reasons = c.undecodableReasons
        if !reasons.isEmpty { text += " (" + reasons.map { "\($0.reason) \($0.count)" }.joined(separator: ", ") + ")" }
        text += ", skipped link type \(c.skippedLinkType)"
        if c.dropped > 0 { text += ", dropped \(c.dropped)" }
        return text
    }

    static func printFile(_ summary: CaptureFile.Summary) {
        if !summary.linkTypeName.isEmpty {
            print("\(summary.path): \(summary.linkTypeName): \(counts(summary.counts))")
        }
        if !summary.linkTypeSupported {
            stderr("\(summary.path): link type \(summary.linkTypeName) is not one the decoder reads (EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP): its \(summary.counts.skippedLinkType) packets were skipped")
        }
        if let failure = summary.failure {
            if summary.linkTypeName.isEmpty {
                stderr("\(summary.path): cannot read: \(failure)")
            } else {
                stderr("\(summary.path): stopped after \(summary.counts.packets) packets (what they held is stored): \(failure)")
            }
        }
    }

    static func printTotal(_ outcome: Replay.Outcome) {
        let failed = outcome.files.filter { $0.failure != nil }.count
        let c = outcome.writer.counters
        print("total: \(outcome.files.count) files (\(failed) not read to the end): \(counts(outcome.total)); store: offered \(c.offered), stored \(c.stored), dropped \(c.dropped)")
    }

    static func stderr(_ line: String) {
        FileHandle.standardError.write(Data("sinkhole: replay: \(line)\n".utf8))
    }
}

/// One progress line on stderr, rewritten in place (a terminal only): packets, bytes, how far
/// into the file, packets per second. At most five updates a second.
final class ReplayProgress: Sendable {
    let enabled: Bool
    /// The file being read, when it was started (the rate is per file) and the last update.
    private let current = Mutex<(path: String, started: ContinuousClock.Instant, shown: ContinuousClock.Instant?)>(("", .now, nil))

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ summary: CaptureFile.Summary) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let started = current.withLock { current -> ContinuousClock.Instant? in
            if current.path != summary.path { current = (summary.path, now, nil) }
            if let shown = current.shown, now - shown < .milliseconds(200) { return nil }
            current.shown = now
            return current.started
        }
        guard let started else { return }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Int(Double(summary.counts.packets) / seconds) : 0
        let percent = summary.fileBytes > 0 ? min(100, summary.bytesRead * 100 / summary.fileBytes) : 0
        let line = "\(summary.path): \(summary.counts.packets) packets, \(summary.counts.bytes / 1_048_576) MiB, \(percent)% of file, \(rate) packets/s"
        FileHandle.standardError.write(Data("\r\u{1b}[K\(line)".utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }
}
