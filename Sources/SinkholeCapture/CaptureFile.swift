import SinkholeCore

/// Reads one pcap or pcapng file into a ring, with the capture timestamps as event times
/// (`sinkhole replay`).
///
/// Replay waits for the writer when the ring is full (`pushWaitingForConsumer`): a file can be
/// read again, so there is no reason to drop what the writer would store a moment later.
public enum CaptureFile {
    /// How long reading waits on a full ring for a writer that takes nothing before it drops:
    /// far longer than a live producer's `EventRing.stallMicroseconds`, because waiting loses
    /// nothing here. On a loaded 2-core host one SQLite commit of a 4,096-event batch took
    /// longer than the live 250 ms, and a 200,000-packet replay dropped 16,029 events; only a
    /// store that stays down this long (the writer retrying) costs events.
    public static let stallMicroseconds = 30_000_000
    /// What reading one file came to.
    public struct Summary: Sendable {
        public var path: String
        /// libpcap's name for the file's link type; empty when the file could not be opened.
        public var linkTypeName: String = ""
        /// The file's link type is one the decoder reads.
        public var linkTypeSupported = true
        public var counts = CaptureCounts()
        /// Why the file could not be read to its end (missing, unreadable, not a capture, a
        /// truncated or damaged record); nil when every record was read.
        public var failure: PcapError?
        /// The read was asked to stop before the file's end (a run shutting down).
        public var stopped = false
        /// Bytes of the file read, and its size (0 when unknown).
        public var bytesRead = 0
        public var fileBytes = 0

        public init(path: String) { self.path = path }
    }

    /// How often, in packets, `progress` is called.
    public static let progressInterval = 4096

    /// Reads `path` to its end (or to the first damaged record, which ends it cleanly: every
    /// packet before it is kept), pushing each check-in into `ring`.
    ///
    /// - Parameters:
    ///   - filter: a BPF filter applied to the file's packets (`capture.filter`); nil reads all.
    ///   - shouldStop: asked every `progressInterval` packets; true ends the read there, as a
    ///     run's shutdown does (the summary then has no failure and `stopped` set).
    public static func read(path: String, fileBytes: Int, checkIns: PacketCheckIns, ring: EventRing<CheckIn>,
                            filter: String? = nil, shouldStop: () -> Bool = { false },
                            progress: (Summary) -> Void = { _ in }) -> Summary {
        var summary = Summary(path: path)
        summary.fileBytes = fileBytes
        let handle: PcapHandle
        do {
            handle = try PcapHandle.openOffline(path: path)
            if let filter { try handle.setFilter(filter) }
        } catch {
            summary.failure = error
            return summary
        }
        summary.linkTypeName = handle.linkTypeName
        var reader = CaptureReader(dlt: handle.linkType, checkIns: checkIns)
        summary.linkTypeSupported = reader.link != nil
        loop: while true {
            let next = handle.next { time, bytes, _ in
                if let checkIn = reader.read(bytes, time: time), !ring.pushWaitingForConsumer(checkIn, stallMicroseconds: stallMicroseconds) {
                    reader.countDrop()
                }
            }
            switch next {
            case .packet, .timeout:
                if reader.counts.packets % progressInterval == 0 {
                    summary.counts = reader.counts
                    summary.bytesRead = handle.filePosition ?? 0
                    progress(summary)
                    if shouldStop() {
                        summary.stopped = true
                        break loop
                    }
                }
            case .end:
                break loop
            case .failed(let error):
                summary.failure = error
                break loop
            }
        }
        summary.counts = reader.counts
        summary.bytesRead = summary.failure == nil && !summary.stopped ? fileBytes : (handle.filePosition ?? 0)
        return summary
    }
}
