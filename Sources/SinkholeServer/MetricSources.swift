import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeStore
import Synchronization

/// Where /metrics, /readyz and /status read their values: totals the pipeline already keeps,
/// read when asked, so serving them adds no work to any check-in's path.
///
/// The services register what they create as they start (UDP workers, connection tables).
final class MetricSources: Sendable {
    let node: String
    let startedAt: UTCTime
    let families: [String]
    let writer: Writer
    let rings: EventRings<CheckIn>
    let spillLimit: Int
    /// The same gate the systemd watchdog asks: writer, UDP workers, live capture, event loops.
    let progress: ProgressGate
    /// How long a watched thread may be silent before /readyz reports it.
    let stallBound: Duration
    /// Events may wait this long for a commit before /readyz calls the writer stalled.
    let lagBound: Duration
    let ready: ReadyBarrier
    let seizedNames: SeizedNamesRecord
    let capture: LiveCapture?

    private struct Registered {
        var udpWorkers: [(role: ListenerRole, counts: @Sendable () -> UDPWorkerCounts)] = []
        var connections: [(role: ListenerRole, table: DNSTCPConnections)] = []
    }

    private let registered = Mutex(Registered())
    private let stoppingFlag = Atomic<Bool>(false)

    init(node: String, startedAt: UTCTime, families: [String], writer: Writer, rings: EventRings<CheckIn>,
         spillLimit: Int, progress: ProgressGate, stallBound: Duration, lagBound: Duration, ready: ReadyBarrier,
         seizedNames: SeizedNamesRecord, capture: LiveCapture?) {
        self.node = node
        self.startedAt = startedAt
        self.families = families
        self.writer = writer
        self.rings = rings
        self.spillLimit = spillLimit
        self.progress = progress
        self.stallBound = stallBound
        self.lagBound = lagBound
        self.ready = ready
        self.seizedNames = seizedNames
        self.capture = capture
    }

    func register(udpWorker role: ListenerRole, counts: @escaping @Sendable () -> UDPWorkerCounts) {
        registered.withLock { $0.udpWorkers.append((role, counts)) }
    }

    func register(connections tables: [DNSTCPConnections], role: ListenerRole) {
        registered.withLock { $0.connections += tables.map { (role, $0) } }
    }

    /// UDP worker counts summed per listener role.
    var udpCounts: [ListenerRole: UDPWorkerCounts] {
        let workers = registered.withLock { $0.udpWorkers }
        var sums: [ListenerRole: UDPWorkerCounts] = [:]
        for worker in workers { sums[worker.role, default: UDPWorkerCounts()].add(worker.counts()) }
        return sums
    }

    /// Open connections, the limit and evictions per listener role, over all its listeners.
    var connections: [ListenerRole: (open: Int, limit: Int, evicted: Int)] {
        let tables = registered.withLock { $0.connections }
        var sums: [ListenerRole: (open: Int, limit: Int, evicted: Int)] = [:]
        for (role, table) in tables {
            let previous = sums[role] ?? (0, 0, 0)
            sums[role] = (previous.open + table.count, previous.limit + table.limit, previous.evicted + table.counts.evicted)
        }
        return sums
    }

    /// Graceful shutdown has begun: /readyz says so, so a load balancer stops sending first.
    var stopping: Bool { stoppingFlag.load(ordering: .relaxed) }

    func beginStopping() { stoppingFlag.store(true, ordering: .relaxed) }

    /// Ready or not, and why not, now.
    func readiness(now: UTCTime = .now(), monotonic: UInt64 = Heartbeat.now()) -> ReadinessReport {
        Readiness.evaluate(waitingFor: ready.waitingFor, writer: writer.statistics, inRings: rings.totals.inFlight,
                           stalls: progress.stalled(now: monotonic, bound: stallBound), now: now,
                           lagBound: lagBound, spillLimit: spillLimit, stopping: stopping)
    }

    /// What /status shows, from the writer's summary and the loss counters as they are now.
    func statusSnapshot(now: UTCTime = .now()) -> StatusSnapshot {
        let traffic = writer.traffic
        let statistics = writer.statistics
        let end = MinuteSeries.minute(of: now)
        let families = traffic.families.map { family in
            StatusSnapshot.Family(name: family.name.isEmpty ? Self.noFamily : family.name,
                                  perMinute: family.perMinute.values(endingAt: end),
                                  uniqueAddresses: family.uniqueAddresses, uniqueIsEstimate: family.uniqueIsEstimate)
        }
        let since = max(traffic.since, startedAt)
        var snapshot = StatusSnapshot(
            node: node, version: SinkholeVersion.string, generatedAt: now,
            since: since > now.dayStart ? since : nil,
            families: families,
            topNames: traffic.topNames.map {
                StatusSnapshot.NameCount(family: $0.family.isEmpty ? Self.noFamily : $0.family, name: $0.name,
                                         count: $0.count, approximate: $0.approximate)
            },
            topASNs: traffic.topASNs,
            drops: StatusSnapshot.Drops(
                ringDropped: rings.totals.dropped,
                writerHeld: statistics.failing ? statistics.spillBatches : 0,
                pcapDropped: capture.map { capture in
                    capture.lastReport.statistics.map { Int($0.droppedByKernel + $0.droppedByInterface) } ?? 0
                }))
        snapshot.asnRankingCapped = traffic.asnRankingCapped
        return snapshot
    }

    /// The label and page name of traffic not under a seized name or address.
    static let noFamily = "(none)"
}
