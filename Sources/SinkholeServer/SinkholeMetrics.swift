import CoreMetrics
import Prometheus
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import SinkholeStore
import Synchronization

/// The Prometheus side of a run: one registry of its own (tests run several sinkholes in one
/// process, and swift-metrics' global bootstrap can happen only once), filled from
/// `MetricSources` at each scrape.
///
/// The totals the pipeline keeps are mirrored as they are: a counter is set to the total it
/// mirrors, under the same lock as the text is written, so a scrape never sees a half-updated
/// registry and two scrapes never race. The one value recorded as it happens is the batch
/// commit time, through swift-metrics' `Timer` API into a histogram of this registry.
final class SinkholeMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let series = Mutex<[String: Series]>([:])
    /// Handed to the writer: it records each commit's duration here.
    let batchDuration: CoreMetrics.Timer

    fileprivate enum Series: @unchecked Sendable {
        // Prometheus' Counter and Gauge are Sendable classes; the enum holds one or the other.
        case counter(Prometheus.Counter)
        case gauge(Prometheus.Gauge)
    }

    /// Commit times run from about a millisecond (a small SQLite batch) to seconds (PostgreSQL
    /// across a network, a disk under load).
    static let batchDurationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10),
    ]

    /// Made before the writer, which is handed `batchDuration`; the sources come at each scrape.
    init() {
        let definition = MetricCatalog.writerBatchDuration
        let histogram = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: definition.name, unitName: "", helpText: definition.help),
            buckets: Self.batchDurationBuckets)
        batchDuration = CoreMetrics.Timer(label: definition.name, dimensions: [], handler: histogram)
    }

    /// The Prometheus text exposition (format 0.0.4) of everything, as it is now.
    func exposition(from sources: MetricSources, now: UTCTime = .now()) -> [UInt8] {
        series.withLock { series in
            collect(from: sources, into: &series, now: now)
            var text: [UInt8] = []
            text.reserveCapacity(16 << 10)
            registry.emit(into: &text)
            return text
        }
    }

    private func collect(from s: MetricSources, into series: inout [String: Series], now: UTCTime) {
        var table = SeriesTable(registry: registry, series: series)
        defer { series = table.series }
        func set(_ definition: MetricDefinition, _ labels: [String], _ value: Double) {
            table.set(definition, labels, value)
        }
        func set(_ definition: MetricDefinition, _ value: Double) {
            table.set(definition, [], value)
        }
        let C = MetricCatalog.self
        set(C.buildInfo, [SinkholeVersion.string, s.node], 1)
        set(C.startTime, seconds(s.startedAt))
        let readiness = s.readiness(now: now)
        set(C.ready, readiness.ready ? 1 : 0)
        let monotonic = Heartbeat.now()
        for stall in s.progress.ages(now: monotonic) {
            set(C.heartbeatAge, [stall.name], Double(stall.silentNanoseconds) / 1e9)
        }

        let statistics = s.writer.statistics
        let tally = statistics.tally
        // Every configured family and service appears from the start, at 0: a rate over a
        // series that appears only with its first check-in misses that check-in.
        var checkIns: [CheckInTally.ServiceFamily: Int] = [:]
        for family in s.families + [""] {
            for service in CheckIn.Service.allCases { checkIns[.init(service: service, family: family)] = 0 }
        }
        checkIns.merge(tally.checkIns) { $1 }
        for (key, count) in checkIns {
            set(C.checkIns, [key.service.name, key.family.isEmpty ? MetricSources.noFamily : key.family], Double(count))
        }
        for (key, count) in tally.dnsResponses {
            set(C.dnsResponses, [key.transport.name, Self.rcodeName(key.rcode)], Double(count))
        }
        let http = tally.httpResponses
        for (key, count) in http {
            set(C.httpResponses, [key.service.name, key.status == 0 ? "none" : String(key.status)], Double(count))
        }
        var limits: [String: Int] = Dictionary(uniqueKeysWithValues: HTTPRejection.allCases.map { (Self.limitName($0), 0) })
        for (key, count) in http {
            if let rejection = HTTPRejection(rawValue: key.status) { limits[Self.limitName(rejection), default: 0] += count }
        }
        for (limit, count) in limits { set(C.httpLimits, [limit], Double(count)) }

        let udp = s.udpCounts
        for (role, counts) in udp {
            set(C.udpDatagrams, [role.rawValue], Double(counts.datagrams))
            set(C.udpUnsent, [role.rawValue], Double(counts.unsentReplies))
        }
        let rateLimit = udp.values.reduce(into: UDPWorkerCounts()) { $0.add($1) }.rateLimit
        set(C.dnsRateLimited, ["slipped"], Double(rateLimit.slipped))
        set(C.dnsRateLimited, ["dropped"], Double(rateLimit.dropped))
        for (role, connections) in s.connections {
            set(C.connectionsOpen, [role.rawValue], Double(connections.open))
            set(C.connectionsLimit, [role.rawValue], Double(connections.limit))
            set(C.connectionsEvicted, [role.rawValue], Double(connections.evicted))
        }

        set(C.eventsOffered, Double(statistics.counters.offered))
        set(C.eventsStored, Double(statistics.counters.stored))
        set(C.eventsDropped, Double(statistics.counters.dropped))
        for ring in s.rings.all {
            let counts = ring.counts
            set(C.ringOffered, [ring.name], Double(counts.offered))
            set(C.ringDropped, [ring.name], Double(counts.dropped))
            set(C.ringInFlight, [ring.name], Double(counts.inFlight))
        }

        set(C.writerBatches, Double(statistics.batches))
        set(C.writerLag, readiness.checks.writer.lagSeconds)
        set(C.writerPending, Double(readiness.checks.writer.pendingEvents))
        set(C.spillBatches, Double(statistics.spillBatches))
        set(C.spillLimit, Double(s.spillLimit))
        set(C.storeErrors, Double(statistics.writeErrors))
        set(C.storeRetries, Double(statistics.retries))
        set(C.storeFailing, statistics.failingSince == nil ? 0 : 1)
        set(C.retentionDeleted, Double(statistics.retentionDeletedRows))

        if let capture = s.capture {
            let interface = capture.settings.interface
            let statistics = capture.lastReport.statistics
            set(C.pcapReceived, [interface], Double(statistics?.received ?? 0))
            set(C.pcapDropped, [interface], Double(statistics?.droppedByKernel ?? 0))
            set(C.pcapInterfaceDropped, [interface], Double(statistics?.droppedByInterface ?? 0))
        }

        let names = s.seizedNames.current
        for (family, count) in names.namesPerFamily { set(C.seizedNames, [family], Double(count)) }
        set(C.reloads, ["success"], Double(names.successes))
        set(C.reloads, ["failure"], Double(names.failures))
        set(C.reloadLastSuccess, seconds(names.lastSuccess))
        set(C.reloadLastSuccessful, names.lastSucceeded ? 1 : 0)

        var unique: [String: Int] = Dictionary(uniqueKeysWithValues: s.families.map { ($0, 0) })
        for family in s.writer.traffic.families where !family.name.isEmpty { unique[family.name] = family.uniqueAddresses }
        for (family, count) in unique { set(C.infectedToday, [family], Double(count)) }
    }

    private func seconds(_ time: UTCTime) -> Double { Double(time.microseconds) / 1e6 }

    /// The limit label of each refusal the HTTP handler answers with.
    static func limitName(_ rejection: HTTPRejection) -> String {
        switch rejection {
        case .badRequest: "bad_request"
        case .requestTimeout: "timeout"
        case .contentTooLarge: "body"
        case .uriTooLong: "uri"
        case .headerFieldsTooLarge: "head"
        }
    }

    /// The rcode's mnemonic; a query that got no answer at all (too short for a header, a
    /// response sent to us) is logged with `CheckIn.noResponse`.
    static func rcodeName(_ rcode: UInt8) -> String {
        if rcode == CheckIn.noResponse { return "none" }
        return DNSRcode(rawValue: rcode)?.name ?? "rcode\(rcode)"
    }
}

/// The registry's series by name and labels, made on first use.
private struct SeriesTable {
    let registry: PrometheusCollectorRegistry
    var series: [String: SinkholeMetrics.Series]

    mutating func set(_ definition: MetricDefinition, _ labels: [String], _ value: Double) {
        precondition(labels.count == definition.labels.count, "\(definition.name) takes labels \(definition.labels)")
        let pairs = Array(zip(definition.labels, labels))
        let key = definition.name + "{" + pairs.map { "\($0)=\($1)" }.joined(separator: ",") + "}"
        let descriptor = MetricNameDescriptor(metricName: definition.name, unitName: "", helpText: definition.help)
        switch definition.kind {
        case .counter:
            let counter: Prometheus.Counter
            if case .counter(let existing) = series[key] {
                counter = existing
            } else {
                counter = registry.makeCounter(descriptor: descriptor, labels: pairs)
                series[key] = .counter(counter)
            }
            // The totals mirrored only grow; set, not add, so the counter is the total.
            counter.reset()
            counter.increment(by: Int64(max(0, value)))
        case .gauge:
            let gauge: Prometheus.Gauge
            if case .gauge(let existing) = series[key] {
                gauge = existing
            } else {
                gauge = registry.makeGauge(descriptor: descriptor, labels: pairs)
                series[key] = .gauge(gauge)
            }
            gauge.set(to: value)
        case .histogram:
            preconditionFailure("\(definition.name) is recorded, not set")
        }
    }
}
