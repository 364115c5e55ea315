import Foundation
import Logging
import ServiceLifecycle
import SinkholeCapture
import SinkholeCore
import Synchronization

/// The capture engine in a run: live from `capture.interface`, or once through `capture.file`.
///
/// Live: the capture thread runs from the service's start to the graceful shutdown, then stops
/// within one read timeout, before the writer's last drain. The handle is opened by
/// `Sinkhole.run` before any listener binds, so a missing interface or a missing CAP_NET_RAW
/// stops the start, and nothing the kernel sees after "sinkhole ready" is missed. Each minute
/// the thread's counts and libpcap's kernel counters are logged; kernel drops are a warning,
/// never hidden.
///
/// File: a thread reads the file into the capture's ring through the same reader as a live
/// capture and `sinkhole replay` (capture timestamps as event times, waiting for the writer
/// rather than dropping), logs its summary and returns; the run goes on serving. A shutdown
/// before the file's end stops the read at the next progress check.
struct CaptureService: Service {
    enum Source: Sendable {
        case live(LiveCapture)
        case file(path: String, filter: String?, checkIns: PacketCheckIns, ring: EventRing<CheckIn>)
    }

    let source: Source
    let logger: Logger

    func run() async throws {
        switch source {
        case .live(let capture):
            capture.start()
            await withTaskCancellationOrGracefulShutdownHandler {
                try? await gracefulShutdown()
            } onCancelOrGracefulShutdown: {
                capture.stop()
            }
            capture.stop()
            await capture.waitUntilFinished()
        case .file(let path, let filter, let checkIns, let ring):
            let stop = StopFlag()
            let summary = await withTaskCancellationOrGracefulShutdownHandler {
                await Self.readOnThread(path: path, filter: filter, checkIns: checkIns, ring: ring, stop: stop)
            } onCancelOrGracefulShutdown: {
                stop.request()
            }
            Self.log(summary, logger: logger)
        }
    }

    /// Set once by the shutdown handler, read by the reading thread.
    final class StopFlag: Sendable {
        private let requested = Atomic<Bool>(false)
        // Relaxed: the flag publishes no other memory; the thread only has to see it soon.
        func request() { requested.store(true, ordering: .relaxed) }
        var isRequested: Bool { requested.load(ordering: .relaxed) }
    }

    /// Reading blocks (libpcap, and waiting on the ring while the writer drains): a thread of
    /// its own, not the cooperative pool, as `Replay` reads.
    static func readOnThread(path: String, filter: String?, checkIns: PacketCheckIns, ring: EventRing<CheckIn>,
                             stop: StopFlag) async -> CaptureFile.Summary {
        await withCheckedContinuation { (continuation: CheckedContinuation<CaptureFile.Summary, Never>) in
            SinkholeThread.start(name: "capture-file") {
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                continuation.resume(returning: CaptureFile.read(
                    path: path, fileBytes: size, checkIns: checkIns, ring: ring, filter: filter,
                    shouldStop: { stop.isRequested }))
            }
        }
    }

    /// Logs what reading `capture.file` came to: its counts as metadata; an error when the file
    /// could not be read to its end (what it held before the damage is stored).
    static func log(_ summary: CaptureFile.Summary, logger: Logger) {
        let c = summary.counts
        var metadata: Logger.Metadata = [
            "capture.file": "\(summary.path)", "capture.link_type": "\(summary.linkTypeName)",
            "capture.packets": "\(c.packets)", "capture.decoded": "\(c.decoded)", "capture.events": "\(c.events)",
            "capture.ring_dropped": "\(c.dropped)", "capture.undecodable": "\(c.undecodable)",
            "capture.skipped_link_type": "\(c.skippedLinkType)",
        ]
        for (reason, count) in c.undecodableReasons { metadata["capture.undecodable.\(reason)"] = "\(count)" }
        if let failure = summary.failure {
            metadata["error"] = "\(failure)"
            logger.error("capture file not read to its end", metadata: metadata)
        } else if !summary.linkTypeSupported {
            logger.error("capture file link type not decoded: every packet was skipped", metadata: metadata)
        } else if summary.stopped {
            logger.notice("capture file read stopped by the shutdown", metadata: metadata)
        } else {
            logger.info("capture file read", metadata: metadata)
        }
    }

    /// Logs one report from the capture thread: counters as metadata, a warning when the
    /// kernel or the ring dropped anything since the last report, an error when it stopped.
    static func log(_ report: LiveCapture.Report, interface: String, previous: LiveCapture.Report?, logger: Logger) {
        let c = report.counts
        var metadata: Logger.Metadata = [
            "capture.interface": "\(interface)", "capture.packets": "\(c.packets)", "capture.decoded": "\(c.decoded)",
            "capture.events": "\(c.events)", "capture.ring_dropped": "\(c.dropped)", "capture.undecodable": "\(c.undecodable)",
        ]
        for (reason, count) in c.undecodableReasons { metadata["capture.undecodable.\(reason)"] = "\(count)" }
        if let s = report.statistics {
            metadata["pcap.received"] = "\(s.received)"
            metadata["pcap.dropped_by_kernel"] = "\(s.droppedByKernel)"
            metadata["pcap.dropped_by_interface"] = "\(s.droppedByInterface)"
        }
        if let failure = report.failure {
            metadata["error"] = "\(failure)"
            logger.error("capture stopped", metadata: metadata)
            return
        }
        let kernelDrops = (report.statistics?.droppedByKernel ?? 0) + (report.statistics?.droppedByInterface ?? 0)
        let previousDrops = (previous?.statistics?.droppedByKernel ?? 0) + (previous?.statistics?.droppedByInterface ?? 0)
        if kernelDrops > previousDrops || c.dropped > (previous?.counts.dropped ?? 0) {
            logger.warning("capture dropped packets", metadata: metadata)
        } else {
            logger.info(report.finished ? "capture finished" : "capture statistics", metadata: metadata)
        }
    }
}

extension Sinkhole {
    /// What `check-config` says of the capture: its source and settings, and a warning for a
    /// file whose link type the decoder does not read (every packet would be skipped); nil
    /// when capture is off.
    public static func captureSummary(_ configuration: SinkholeConfiguration) throws -> (line: String, warning: String?)? {
        let settings = configuration.capture
        if let file = settings.file {
            let handle: PcapHandle
            do {
                handle = try PcapHandle.openOffline(path: file)
            } catch {
                throw StartupError(description: "cannot read capture.file \(file): \(error)")
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            let filter = settings.filter.map { ", filter \($0)" } ?? ""
            let warning = LinkType(dlt: handle.linkType) == nil
                ? "capture.file \(file) has link type \(handle.linkTypeName), which the decoder does not read: every packet would be skipped"
                : nil
            return ("capture: file \(file) (\(handle.linkTypeName), \(size) bytes\(filter)), read once at start", warning)
        }
        guard let interface = settings.interface else { return nil }
        let filter = settings.filter ?? CaptureFilter.default(addresses: captureAddresses(configuration)) ?? ""
        return ("capture: interface \(interface) (filter \(filter), buffer \(settings.bufferMB) MiB, snaplen \(settings.snaplen))", nil)
    }
}
