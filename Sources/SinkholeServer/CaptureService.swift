import Logging
import ServiceLifecycle
import SinkholeCapture
import SinkholeCore

/// Live capture (`capture.interface`): the capture thread runs from the service's start to the
/// graceful shutdown, then stops within one read timeout, before the writer's last drain.
///
/// The handle is opened by `Sinkhole.run` before any listener binds, so a missing interface or
/// a missing CAP_NET_RAW stops the start, and nothing the kernel sees after "sinkhole ready"
/// is missed. Each minute the thread's counts and libpcap's kernel counters are logged; kernel
/// drops are a warning, never hidden.
struct CaptureService: Service {
    let capture: LiveCapture

    func run() async throws {
        capture.start()
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await gracefulShutdown()
        } onCancelOrGracefulShutdown: {
            capture.stop()
        }
        capture.stop()
        await capture.waitUntilFinished()
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
