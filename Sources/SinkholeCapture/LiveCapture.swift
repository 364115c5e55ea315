import Foundation
import SinkholeCore
import Synchronization

/// Captures from one interface on a thread of its own, into its own ring.
///
/// Live capture never waits on a full ring: the kernel keeps delivering while the thread
/// waits, and a wait would turn into kernel drops that hide in `pcap_stats`. A full ring is a
/// counted drop instead (the ring's and `CaptureCounts.dropped`), in the open.
public final class LiveCapture: Sendable {
    public struct Settings: Sendable {
        public var interface: String
        public var snaplen: Int
        public var bufferBytes: Int
        /// The BPF filter installed on the handle.
        public var filter: String
        /// How often the kernel counters are read and reported (logged).
        public var statisticsInterval: Duration
        /// How often they are read for `lastReport` (metrics) between two reports.
        public var snapshotInterval: Duration = .seconds(5)

        public init(interface: String, snaplen: Int, bufferBytes: Int, filter: String,
                    statisticsInterval: Duration = .seconds(60)) {
            self.interface = interface
            self.snaplen = snaplen
            self.bufferBytes = bufferBytes
            self.filter = filter
            self.statisticsInterval = statisticsInterval
        }
    }

    /// What the capture thread reports each `statisticsInterval` and when it stops.
    public struct Report: Sendable {
        public var counts = CaptureCounts()
        /// The kernel counters; nil if `pcap_stats` failed.
        public var statistics: PcapStatistics?
        /// Why the capture stopped on its own (the interface went away); nil while it runs.
        public var failure: PcapError?
        /// The thread has stopped.
        public var finished = false
    }

    /// How long the thread waits for a packet before it checks for a stop request.
    static let readTimeoutMilliseconds = 100
    /// Packets read per wake-up before the stop flag and the report clock are looked at again.
    static let packetsPerWake = 4096

    public let settings: Settings
    public let ring: EventRing<CheckIn>
    /// libpcap's name for the interface's link type.
    public let linkTypeName: String
    /// False when the decoder does not read the interface's link type (nothing will decode).
    public let linkTypeSupported: Bool
    private let checkIns: PacketCheckIns
    // The handle is used only by the capture thread once started (and by `init` before).
    private nonisolated(unsafe) let handle: PcapHandle
    private let stopRequested = Atomic<Bool>(false)
    private let state = Mutex<(last: Report, done: Bool, waiters: [CheckedContinuation<Void, Never>])>((Report(), false, []))
    private let report: @Sendable (Report) -> Void
    /// Stamped on every turn of the capture loop (at least every read timeout), for the watchdog.
    public let heartbeat: Heartbeat

    /// Opens and filters the interface; throws (naming the libpcap call) when it cannot, so a
    /// broken capture stops the start instead of silently capturing nothing.
    public init(settings: Settings, checkIns: PacketCheckIns, ring: EventRing<CheckIn>,
                report: @escaping @Sendable (Report) -> Void) throws(PcapError) {
        self.settings = settings
        self.checkIns = checkIns
        self.ring = ring
        self.report = report
        heartbeat = Heartbeat(name: "capture-\(settings.interface)")
        handle = try PcapHandle.openLive(interface: settings.interface, snaplen: settings.snaplen,
                                         bufferBytes: settings.bufferBytes,
                                         timeoutMilliseconds: Self.readTimeoutMilliseconds)
        try handle.setFilter(settings.filter)
        linkTypeName = handle.linkTypeName
        linkTypeSupported = LinkType(dlt: handle.linkType) != nil
    }

    /// The last report (the final one once the thread has stopped).
    public var lastReport: Report { state.withLock { $0.last } }

    public func start() {
        SinkholeThread.start(name: "capture-\(settings.interface)") { [self] in
            capture()
            let waiters = state.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    /// Asks the thread to stop; it returns within one read timeout.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func capture() {
        var reader = CaptureReader(dlt: handle.linkType, checkIns: checkIns)
        // Where a packet is decoded when the ring is full: a dropped event is told from a packet
        // that is none.
        var overflow = CheckIn.empty
        let clock = ContinuousClock()
        var nextReport = clock.now + settings.statisticsInterval
        var nextSnapshot = clock.now + settings.snapshotInterval
        var failure: PcapError?
        capturing: while !stopRequested.load(ordering: .relaxed) {
            heartbeat.beat()
            _ = handle.waitReadable(timeoutMilliseconds: Int32(Self.readTimeoutMilliseconds))
            // Read what is there (non-blocking), bounded so a flood still lets the thread see a
            // stop request and report on time.
            for _ in 0..<Self.packetsPerWake {
                let next = handle.next { time, bytes, _ in
                    reader.read(bytes, time: time, into: ring, overflow: &overflow)
                }
                if case .failed(let error) = next {
                    failure = error
                    break capturing
                }
                if next != .packet { break }
            }
            let now = clock.now
            if now >= nextReport {
                nextReport = now + settings.statisticsInterval
                nextSnapshot = now + settings.snapshotInterval
                publish(reader.counts, failure: nil, finished: false)
            } else if now >= nextSnapshot {
                // For /metrics, without a log line: pcap_stats only on this thread, which owns the handle.
                nextSnapshot = now + settings.snapshotInterval
                let current = Report(counts: reader.counts, statistics: try? handle.statistics(), failure: nil, finished: false)
                state.withLock { $0.last = current }
            }
        }
        publish(reader.counts, failure: failure, finished: true)
    }

    private func publish(_ counts: CaptureCounts, failure: PcapError?, finished: Bool) {
        let current = Report(counts: counts, statistics: try? handle.statistics(), failure: failure, finished: finished)
        state.withLock { $0.last = current }
        report(current)
    }
}
