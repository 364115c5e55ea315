import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeFeeds
import SinkholeHTTP
import SinkholeStore
import Synchronization

/// The assembled server: seized names loaded, store opened, rings and writer set up, listeners
/// run in a `ServiceGroup` until SIGTERM or SIGINT.
///
/// What can fail because of the configuration's files (a missing domain list, a bad
/// certificate) fails in `init`; the store opens in `run`, after the listeners are bound and
/// root is dropped (`user:`), so its files belong to the account that writes them. Either way
/// nothing is answered until everything is ready, so a broken setup never half-starts.
public final class Sinkhole: Sendable {
    public let configuration: SinkholeConfiguration
    let zones: SeizedZones
    /// When the domain lists were loaded: the SOA serial of every seized zone.
    let zonesLoaded: UTCTime
    /// The names in force per family and how reloads went (/metrics).
    let seizedNames: SeizedNamesRecord
    /// When this process started (process_start_time_seconds).
    let startedAt = UTCTime.now()
    /// The HTTP answers, rendered once (the body file is read at start).
    let httpResponses: HTTPResponses
    /// The TLS listeners' certificates (read or signed at start); nil without TLS listeners.
    let tlsCertificates: TLSCertificates?
    /// The feed API's ISP directory, ASN map and certificate; nil without a `feeds` section.
    let feedSetup: FeedSetup?
    let logger: Logger

    /// A startup failure that is the operator's to fix, with what to look at.
    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(configuration: SinkholeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        for warning in try Self.checkSupported(configuration) {
            logger.warning("configuration not in effect", metadata: ["config.warning": "\(warning)"])
        }
        zonesLoaded = UTCTime.now()
        let loaded = try Self.loadZonesReportingSkipped(configuration, logger: logger)
        zones = loaded.zones
        seizedNames = SeizedNamesRecord(namesPerFamily: loaded.namesPerFamily, loadedAt: zonesLoaded)
        httpResponses = try Self.makeHTTPResponses(configuration.http.response)
        tlsCertificates = try Self.makeTLSCertificates(configuration)
        if let tlsCertificates {
            logger.info("tls certificates ready", metadata: ["tls.certificate": "\(tlsCertificates.summary)"])
        }
        feedSetup = try Self.makeFeedSetup(configuration, logger: logger)
        // Bad store settings (a malformed URL, an unreadable password file) fail here too.
        _ = try configuration.store.postgresLocation()
    }

    /// Opens the configured store: PostgreSQL when `store.postgres` is set, else SQLite.
    static func openConfiguredStore(_ configuration: SinkholeConfiguration, logger: Logger) throws -> any CheckInStore {
        if let location = try configuration.store.postgresLocation() {
            return try openPostgresStore(location: location, configuration.store, logger: logger)
        }
        return try openStore(path: configuration.store.sqlite, logger: logger)
    }

    /// How many skipped list lines are logged one by one before only the count is.
    static let skippedLinesLogged = 20

    /// Loads every family's domain lists into one matcher.
    static func loadZones(_ configuration: SinkholeConfiguration, logger: Logger) throws -> SeizedZones {
        try loadZonesReportingSkipped(configuration, logger: logger).zones
    }

    /// `loadZones`, also returning the list lines skipped (for `check-config` to print) and the
    /// names listed per family (for /metrics).
    static func loadZonesReportingSkipped(_ configuration: SinkholeConfiguration, logger: Logger) throws
        -> (zones: SeizedZones, skipped: [String], namesPerFamily: [String: Int]) {
        var skippedLines: [String] = []
        let today = UTCTime.now()
        // Names go from each file's bytes straight into the index: no `String` per name, and
        // no list of a million of them alive beside the index at the peak.
        var builder = SeizedZones.Builder()
        var namesListed: [Int] = []
        for family in configuration.families {
            builder.addFamily(name: family.name, answers: family.sinkholeAddresses ?? configuration.sinkholeAddresses)
            let loaded: DomainList.Indexed
            do {
                loaded = try DomainList.load(patterns: family.domains, on: today, into: &builder)
            } catch {
                throw StartupError(description: "family \(family.name): \(error)")
            }
            for file in loaded.missing {
                logger.warning("per-day domain list missing, skipped", metadata: ["family": "\(family.name)", "file": "\(file)"])
            }
            // One line per bad name up to a bound, then a count: a list with a million broken
            // lines must not flood the journal.
            for problem in loaded.skipped.prefix(Self.skippedLinesLogged) {
                logger.warning("domain list line skipped", metadata: ["family": "\(family.name)", "problem": "\(problem)"])
            }
            skippedLines += loaded.skipped.map { "family \(family.name): \($0)" }
            if loaded.skipped.count > 0 {
                logger.warning("domain list lines skipped", metadata: ["family": "\(family.name)", "lines.skipped": "\(loaded.skipped.count)"])
            }
            namesListed.append(loaded.names)
        }
        let zones = builder.build()
        for (index, family) in configuration.families.enumerated() {
            logger.info("seized names loaded", metadata: ["family": "\(family.name)", "names": "\(namesListed[index])",
                                                          "answers": "\(family.sinkholeAddresses ?? configuration.sinkholeAddresses)"])
        }
        var namesPerFamily: [String: Int] = [:]
        for (index, family) in configuration.families.enumerated() { namesPerFamily[family.name, default: 0] += namesListed[index] }
        return (zones, skippedLines, namesPerFamily)
    }

    /// Settings this version cannot honour. One that asks for something the operator relies on
    /// (packet capture) is an error: capturing nothing would lose evidence. The rest come back
    /// as warnings to log.
    public static func checkSupported(_ configuration: SinkholeConfiguration) throws -> [String] {
        if let interface = configuration.capture.interface, configuration.capture.filter == nil,
           captureAddresses(configuration).isEmpty {
            throw StartupError(description: "capture.interface is \(interface), but there are no sinkhole_addresses or seized addresses to capture traffic to; add them or set capture.filter")
        }
        var warnings: [String] = []
        for family in configuration.families where (family.sinkholeAddresses ?? configuration.sinkholeAddresses).isEmpty {
            warnings.append("family \(family.name) has no sinkhole addresses (sinkhole_addresses): its names are answered without addresses, so bots will not connect")
        }
        if let metrics = configuration.metrics.listen, !metrics.address.isLoopback {
            warnings.append("metrics.listen \(metrics) is not a loopback address: /metrics, /readyz and /status have no authentication, and /status names what bots ask for; firewall it or put it behind an authenticating proxy")
        }
        return warnings
    }

    /// The HTTP responses for `response`, reading its body file. An unreadable file stops the
    /// start: answering with an empty body instead would look like a different server.
    static func makeHTTPResponses(_ response: SinkholeConfiguration.HTTP.Response) throws -> HTTPResponses {
        var body: [UInt8] = []
        if let file = response.bodyFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw StartupError(description: "cannot read http.response.body_file \(file)")
            }
            body = [UInt8](data)
        }
        return HTTPResponses(.init(status: response.status,
                                   headers: response.headers.map { .init(name: $0.name, value: $0.value) },
                                   body: body, browserText: response.browserText))
    }

    /// The certificates for `http.tls_listen`: the configured pair, read and checked, or the
    /// sinkhole's own signer naming the sinkhole and seized addresses; nil with no TLS listener.
    /// Also what `check-config` runs, so a bad certificate or key is found before a restart.
    public static func makeTLSCertificates(_ configuration: SinkholeConfiguration) throws -> TLSCertificates? {
        let http = configuration.http
        guard !http.tlsListen.isEmpty else { return nil }
        if let certificate = http.tlsCertificate, let key = http.tlsKey {
            do {
                return try TLSCertificates(certificateFile: certificate, keyFile: key)
            } catch {
                throw StartupError(description: "http.tls_certificate / http.tls_key: \(error)")
            }
        }
        var addresses = configuration.sinkholeAddresses
        for family in configuration.families {
            addresses += (family.sinkholeAddresses ?? []) + family.addresses
        }
        var seen = Set<IPAddress>()
        addresses = addresses.filter { seen.insert($0).inserted }
        do {
            return try TLSCertificates(selfSigned: SelfSignedCertificate(addresses: addresses))
        } catch {
            throw StartupError(description: "cannot make the self-signed TLS certificate: \(error)")
        }
    }

    /// Loads every domain list the configuration names (as `run` would) and returns how many
    /// seized names they hold, for `sinkhole check-config`.
    public static func checkDomainLists(_ configuration: SinkholeConfiguration) throws -> (names: Int, skipped: [String]) {
        var quiet = Logger(label: "sinkhole.check-config")
        quiet.logLevel = .error
        let (zones, skipped, _) = try loadZonesReportingSkipped(configuration, logger: quiet)
        // Every listing counts, as in the lists: a name in two lists is two.
        return (zones.count + zones.duplicateCount, skipped)
    }

    /// Connects to the shared PostgreSQL store and migrates it. A server that cannot be reached
    /// stops the start (exit status 1, as an SQLite file that cannot be opened does): starting
    /// anyway would answer bots while recording nothing beyond what the rings hold. The error
    /// names the user, host or socket, port and database, never the password.
    static func openPostgresStore(location: PostgresLocation, _ store: SinkholeConfiguration.Store, logger: Logger) throws -> PostgresStore {
        let days = store.retentionDays
        let retention = PostgresStore.Retention(checkins: days.checkins > 0 ? days.checkins : nil,
                                                infections: days.infections > 0 ? days.infections : nil,
                                                dnsQueries: days.dnsQueries > 0 ? days.dnsQueries : nil)
        do {
            let opened = try PostgresStore(location: location, retention: retention, logger: logger)
            logger.info("store opened", metadata: ["store.postgres": "\(location)"])
            return opened
        } catch {
            throw StartupError(description: "cannot open the PostgreSQL store: \(error)")
        }
    }

    static func openStore(path: String, logger: Logger) throws -> SQLiteStore {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                logger.notice("created store directory", metadata: ["store.directory": "\(directory)"])
            } catch {
                throw StartupError(description: "cannot create the store directory \(directory): \(error.localizedDescription)")
            }
        }
        do {
            let store = try SQLiteStore(path: path)
            logger.info("store opened", metadata: ["store.sqlite": "\(path)"])
            return store
        } catch {
            throw StartupError(description: "cannot open the SQLite store: \(error)")
        }
    }

    /// Runs until SIGTERM or SIGINT, then stops the listeners, drains every ring into the store
    /// and returns the writer's outcome. `onReady` gets the bound DNS addresses. With a
    /// `notifier`, systemd is told of readiness, status, reloads and shutdown, and pinged.
    ///
    /// The start goes in the order a privileged start needs: every listener is bound (or
    /// adopted from systemd), capture opens, root is dropped for `user:`, then the store opens
    /// and the run is recorded; only then do the services take their sockets and read.
    public func run(serviceManager notifier: ServiceManagerNotifier? = nil,
                    onReady: @escaping @Sendable ([ListenAddress]) -> Void = { _ in }) async throws -> Writer.Outcome {
        let udpWorkers = configuration.dns.udpWorkers > 0
            ? configuration.dns.udpWorkers : DNSService.defaultUDPWorkers(cores: System.coreCount)
        let privilegeDrop = try PrivilegeDrop.resolve(configuration)
        let plan = try listenerPlan()
        let sockets = try ListenerSockets.open(plan, dnsWorkers: udpWorkers, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let loops = Array(group.makeIterator())
        let catchAll = configuration.catchAll
        // The catch-all UDP listeners share one worker thread and its ring.
        let catchAllUDPWorkers = sockets.catchAllUDP.isEmpty ? 0 : 1
        let captureThreads = configuration.capture.interface == nil && configuration.capture.file == nil ? 0 : 1
        let registry = EventRings<CheckIn>(memoryBytes: configuration.ring.memoryMB << 20,
                                           producers: loops.count + udpWorkers + catchAllUDPWorkers + captureThreads,
                                           filler: CheckIn.empty)
        let rings = EventLoopRings(group: group, registry: registry)
        let udpRings = (0..<udpWorkers).map { registry.register(name: "dns-udp-\($0)") }
        let catchAllUDPRing = sockets.catchAllUDP.isEmpty ? nil : registry.register(name: "catchall-udp")
        logger.info("event rings ready", metadata: ["rings": "\(registry.all.count)", "ring.slots": "\(registry.slotsPerRing)",
                                                    "ring.slot_bytes": "\(MemoryLayout<CheckIn>.stride)"])
        var writerConfiguration = Writer.Configuration(
            node: configuration.node, batchSize: configuration.writer.batchSize,
            dnsBatchSize: configuration.writer.dnsBatchSize, flushInterval: .milliseconds(configuration.writer.flushIntervalMS),
            sessionWindowSeconds: configuration.writer.sessionWindowS,
            retention: Retention(checkinsDays: configuration.store.retentionDays.checkins,
                                 infectionsDays: configuration.store.retentionDays.infections,
                                 dnsQueriesDays: configuration.store.retentionDays.dnsQueries))
        writerConfiguration.spillBatches = configuration.writer.spillBatches
        // Made before the writer, which times its commits into it.
        let metrics = SinkholeMetrics()
        let batchTimer = metrics.batchDuration
        writerConfiguration.batchDuration = { duration in
            let (seconds, attoseconds) = duration.components
            batchTimer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        // /status ranks source networks when the feeds give an ASN map; reloads swap it.
        let sourceNetworks = feedSetup.map { SourceNetworks($0.attributor.asnMap) }
        if let sourceNetworks, sourceNetworks.hasMap {
            writerConfiguration.sourceASN = { sourceNetworks.asn(for: $0) }
        }
        let writer: Writer
        // The capture handle opens while the process may still be root (CAP_NET_RAW); no such
        // interface stops the start here, and nothing after "sinkhole ready" is missed. Then
        // root goes, and the store opens as the account that will write it. The run is
        // recorded before any service reads: a store that cannot take it must stop the start,
        // not leave listeners answering bots that nothing records.
        let capture: CaptureService?
        do {
            capture = try openCapture(registry: registry)
            try privilegeDrop?.apply(logger: logger)
            let store = try Self.openConfiguredStore(configuration, logger: logger)
            writer = Writer(configuration: writerConfiguration, rings: registry, store: store, logger: logger)
            do {
                try writer.beginRun()
            } catch {
                throw StartupError(description: "cannot record the run in the store: \(error)")
            }
        } catch {
            sockets.closeAll()
            try? await group.shutdownGracefully()
            throw error
        }
        let logger = self.logger
        let outcome = Mutex<Writer.Outcome?>(nil)
        let live = LiveResponder(makeResponder(zones, loadedAt: zonesLoaded))
        // The watchdog's gate, and /readyz's: the writer, the live capture, the UDP workers (added
        // by their services) and, under systemd, a probe on every event loop.
        let progress = ProgressGate()
        progress.watch(writer.heartbeat)
        // A capture file's thread ends with the file: only a live capture is watched.
        var liveCapture: LiveCapture?
        if case .live(let opened) = capture?.source {
            liveCapture = opened
            progress.watch(opened.heartbeat)
        }
        let serviceManager = makeServiceManagerService(notifier, progress: progress, writer: writer, registry: registry,
                                                       loops: loops, live: live)
        // "sinkhole ready" once every listener of every service is bound, so whoever waits for
        // it (an operator, systemd, the tests) can reach all of them.
        let http = configuration.http
        let servesHTTP = !sockets.tcp(.http).isEmpty
        let servesTLS = !sockets.tcp(.tls).isEmpty
        let catchAllOn = !sockets.tcp(.catchAll).isEmpty || !sockets.catchAllUDP.isEmpty
        let feedSocket = feedSetup == nil ? nil : sockets.tcp(.feeds).first
        let metricsSocket = configuration.metrics.listen == nil ? nil : sockets.tcp(.metrics).first
        var listening: Set<ListenerRole> = [.dns]
        if servesHTTP { listening.insert(.http) }
        if servesTLS { listening.insert(.tls) }
        if catchAllOn { listening.insert(.catchAll) }
        if feedSocket != nil { listening.insert(.feeds) }
        if metricsSocket != nil { listening.insert(.metrics) }
        let ready = ReadyBarrier(services: listening) { bound in
            logger.notice("sinkhole ready", metadata: ["dns.listen": "\(bound.dns.map(\.description))",
                                                     "http.listen": "\(bound.http.map(\.description))",
                                                     "tls.listen": "\(bound.tls.map(\.description))",
                                                     "catch_all.listen": "\(bound.catchAll.map(\.description))",
                                                     "feeds.listen": "\(bound.feeds.map(\.description))",
                                                     "metrics.listen": "\(bound.metrics.map(\.description))"])
            serviceManager?.ready()
            onReady(bound.dns)
        }
        let flushInterval = Duration.milliseconds(configuration.writer.flushIntervalMS)
        let sources = MetricSources(
            node: configuration.node, startedAt: startedAt, families: configuration.families.map(\.name),
            writer: writer, rings: registry, spillLimit: configuration.writer.spillBatches, progress: progress,
            // systemd's own bound when it watches; otherwise long enough that a busy 2-core host
            // does not flap.
            stallBound: ServiceManagerService.stallBound(watchdog: notifier?.watchdogInterval) ?? .seconds(10),
            lagBound: max(.seconds(10), flushInterval * 10), ready: ready, seizedNames: seizedNames,
            capture: liveCapture)
        var dns = DNSService(
            tcpSockets: sockets.tcp(.dns), udpSockets: sockets.dnsUDP,
            live: live,
            group: group, rings: rings, udpRings: udpRings, logger: logger,
            onBound: { addresses in ready.bound(dns: addresses) })
        dns.progress = progress
        dns.metrics = sources
        let limit = configuration.dns.rateLimit
        dns.rateLimit = ResponseRateLimiter.Settings(
            responsesPerSecond: limit.responsesPerSecond, window: limit.window, slip: limit.slip,
            ipv4PrefixLength: limit.ipv4Prefix, ipv6PrefixLength: limit.ipv6Prefix)
        var httpService = HTTPService(
            sockets: sockets.tcp(.http), group: group, rings: rings, responses: httpResponses,
            seizedAddresses: Self.seizedAddresses(configuration), live: live, logger: logger,
            onBound: { addresses in ready.bound(http: addresses) })
        httpService.handler = HTTPServerHandler.Configuration(
            limits: .init(bodyBytes: http.maxBodyKiB << 10, discardBytes: http.discardBodyKiB << 10,
                          digestBytes: http.bodyDigestKiB << 10),
            headerTimeout: .seconds(Int64(http.headerTimeoutS)), bodyTimeout: .seconds(Int64(http.bodyTimeoutS)),
            idleTimeout: .seconds(Int64(http.idleTimeoutS)))
        httpService.connectionLimit = http.maxConnections
        httpService.metrics = sources
        // The TLS listeners are HTTP listeners with TLS in front: same limits, same responses.
        var tlsService = httpService
        tlsService.sockets = sockets.tcp(.tls)
        tlsService.certificates = tlsCertificates
        tlsService.onBound = { addresses in ready.bound(tls: addresses) }
        var catchAllService = CatchAllService(
            tcp: sockets.tcp(.catchAll), udp: sockets.catchAllUDP, group: group, rings: rings, udpRing: catchAllUDPRing,
            targets: SeizedTargets(zones: zones, addresses: Self.seizedAddresses(configuration)), logger: logger,
            onBound: { addresses in ready.bound(catchAll: addresses) })
        catchAllService.handler = CatchAllTCPHandler.Configuration(
            readBytes: catchAll.readBytes, idleTimeout: .seconds(Int64(catchAll.idleTimeoutS)))
        catchAllService.connectionLimit = catchAll.maxConnections
        catchAllService.progress = progress
        catchAllService.metrics = sources
        // Writer first: it starts first and stops last, after every listener has closed.
        var listeners: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: dns)]
        if servesHTTP { listeners.append(.init(service: httpService)) }
        if servesTLS { listeners.append(.init(service: tlsService)) }
        if catchAllOn { listeners.append(.init(service: catchAllService)) }
        if let capture {
            // A file's read ends on its own; the run goes on serving.
            let ends: ServiceGroupConfiguration.ServiceConfiguration.TerminationBehavior
            if case .file = capture.source { ends = .ignore } else { ends = .cancelGroup }
            listeners.append(.init(service: capture, successTerminationBehavior: ends))
        }
        // Store reads for the feed API block; they get threads of their own.
        let feedPool = NIOThreadPool(numberOfThreads: 2)
        let feedAPI = feedSetup.flatMap { setup in
            feedSocket.map {
                makeFeedAPIService(setup, socket: $0, group: group, pool: feedPool, onBound: { address in ready.bound(feeds: [address]) })
            }
        }
        let feedState = feedAPI?.1
        if let (service, _) = feedAPI {
            feedPool.start()
            listeners.append(.init(service: service))
        }
        // Right after the writer: it stops second to last, so /readyz and /metrics answer while
        // the responders drain.
        let observability = metricsSocket.map {
            MetricsService(socket: $0, group: group, metrics: metrics, sources: sources, logger: logger,
                           onBound: { address in ready.bound(metrics: [address]) })
        }
        let services = ServiceGroup(configuration: .init(
            services: [
                .init(service: WriterService(writer: writer, logger: logger, onFinish: { result in outcome.withLock { $0 = result } })),
            ] + (observability.map { [.init(service: $0)] } ?? []) + listeners + [
                .init(service: ReloadService(
                    reload: { [self] in
                        let names = self.reloadSeizedNames(into: live)
                        guard let feedState else { return names }
                        return names + "; " + self.reloadFeeds(into: feedState, sourceNetworks: sourceNetworks)
                    },
                    rollsAtMidnight: configuration.families.contains { $0.domains.contains { $0.contains("%") } },
                    serviceManager: notifier)),
                // Told of the shutdown second: /readyz says "stopping" before a listener closes.
                .init(service: StopNoticeService(sources: sources)),
                // The systemd side last: the first told of the shutdown, so STOPPING=1 goes first.
            ] + (serviceManager.map { [.init(service: $0)] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await services.run()
        } catch {
            if feedAPI != nil { try? await feedPool.shutdownGracefully() }
            try? await group.shutdownGracefully()
            throw error
        }
        if feedAPI != nil { try? await feedPool.shutdownGracefully() }
        try await group.shutdownGracefully()
        guard let result = outcome.withLock({ $0 }) else {
            throw StartupError(description: "the writer did not report its outcome")
        }
        return result
    }
}

extension Sinkhole {
    /// The responder for `zones`, loaded at `loadedAt` (the SOA serial), with this
    /// configuration's TTL and authority.
    func makeResponder(_ zones: SeizedZones, loadedAt: UTCTime) -> DNSResponder {
        DNSResponder(zones: zones, ttl: UInt32(configuration.dns.ttl),
                     authority: DNSAuthority(nameservers: configuration.dns.nameservers,
                                             serial: DNSAuthority.serial(loadedAt: loadedAt)))
    }

    /// SIGHUP: reads every family's lists again and puts them in force on every DNS channel.
    /// A list that fails to load keeps the previous names in force, and the log says why.
    /// Returns what happened in a line (systemd's status after the reload).
    @discardableResult
    func reloadSeizedNames(into live: LiveResponder) -> String {
        let started = UTCTime.now()
        do {
            let (zones, _, namesPerFamily) = try Self.loadZonesReportingSkipped(configuration, logger: logger)
            seizedNames.loaded(namesPerFamily, at: started)
            let channels = live.publish(makeResponder(zones, loadedAt: started))
            logger.notice("seized names reloaded", metadata: [
                "names": "\(zones.count + zones.duplicateCount)", "channels": "\(channels)",
            ])
            return "reloaded: \(zones.count) seized names in force"
        } catch {
            seizedNames.failed()
            logger.error("reload failed; the previous seized names stay in force", metadata: ["error": "\(error)"])
            return "reload failed, the previous seized names stay in force: \(error)"
        }
    }
}

extension Sinkhole {
    /// Every address bots reach: the sinkhole addresses (the families' own included) and the
    /// seized addresses.
    static func captureAddresses(_ configuration: SinkholeConfiguration) -> Set<IPAddress> {
        var addresses = Set(configuration.sinkholeAddresses)
        for family in configuration.families {
            addresses.formUnion(family.sinkholeAddresses ?? [])
            addresses.formUnion(family.addresses)
        }
        return addresses
    }

    /// Opens live capture on `capture.interface`, or prepares the read of `capture.file`, with
    /// its own ring; nil when capture is off.
    func openCapture(registry: EventRings<CheckIn>) throws -> CaptureService? {
        let settings = configuration.capture
        if let file = settings.file {
            // The configuration refused a file beside an interface, and checked that libpcap
            // opens it; the default filter is not needed: only packets to the capture
            // addresses become check-ins anyway.
            logger.info("capture file to read", metadata: ["capture.file": "\(file)", "capture.filter": "\(settings.filter ?? "")"])
            return CaptureService(source: .file(path: file, filter: settings.filter,
                                                checkIns: Self.packetCheckIns(configuration, zones: zones),
                                                ring: registry.register(name: "capture-file")),
                                  logger: logger)
        }
        guard let interface = settings.interface else { return nil }
        // checkSupported refused an empty address set without a filter.
        let filter = settings.filter ?? CaptureFilter.default(addresses: Self.captureAddresses(configuration)) ?? ""
        let ring = registry.register(name: "capture-\(interface)")
        let logger = self.logger
        let last = Mutex<LiveCapture.Report?>(nil)
        let capture: LiveCapture
        do {
            capture = try LiveCapture(
                settings: .init(interface: interface, snaplen: settings.snaplen, bufferBytes: settings.bufferMB << 20,
                                filter: filter),
                checkIns: Self.packetCheckIns(configuration, zones: zones), ring: ring,
                report: { report in
                    let previous = last.withLock { previous in
                        defer { previous = report }
                        return previous
                    }
                    CaptureService.log(report, interface: interface, previous: previous, logger: logger)
                })
        } catch {
            let hint = error.message.lowercased().contains("permission") ? " (live capture needs CAP_NET_RAW)" : ""
            throw StartupError(description: "cannot capture on \(interface): \(error)\(hint)")
        }
        if !capture.linkTypeSupported {
            logger.error("capture link type not decoded: every packet will be counted as skipped",
                         metadata: ["capture.interface": "\(interface)", "capture.link_type": "\(capture.linkTypeName)"])
        }
        logger.info("capture open", metadata: ["capture.interface": "\(interface)", "capture.link_type": "\(capture.linkTypeName)",
                                               "capture.filter": "\(filter)", "capture.snaplen": "\(settings.snaplen)",
                                               "capture.buffer_mb": "\(settings.bufferMB)"])
        return CaptureService(source: .live(capture), logger: logger)
    }

    /// Seized C&C address → family, from every family's `addresses` (the configuration
    /// refuses an address listed by two families).
    static func seizedAddresses(_ configuration: SinkholeConfiguration) -> [IPAddress: String] {
        var map: [IPAddress: String] = [:]
        for family in configuration.families {
            for address in family.addresses where map[address] == nil { map[address] = family.name }
        }
        return map
    }
}

/// Waits for every listening service to report its bound addresses, then calls `ready` once.
/// `/readyz` asks it which services are still binding.
final class ReadyBarrier: Sendable {
    /// The addresses each service bound (port 0 in the configuration resolved).
    struct Bound: Sendable {
        var dns: [ListenAddress] = []
        var http: [ListenAddress] = []
        var tls: [ListenAddress] = []
        var catchAll: [ListenAddress] = []
        var feeds: [ListenAddress] = []
        var metrics: [ListenAddress] = []
    }

    private let state: Mutex<(waiting: Set<ListenerRole>, bound: Bound)>
    private let ready: @Sendable (Bound) -> Void

    init(services: Set<ListenerRole>, ready: @escaping @Sendable (Bound) -> Void) {
        state = Mutex((services, Bound()))
        self.ready = ready
    }

    func bound(dns addresses: [ListenAddress]) { report(.dns) { $0.dns = addresses } }
    func bound(http addresses: [ListenAddress]) { report(.http) { $0.http = addresses } }
    func bound(tls addresses: [ListenAddress]) { report(.tls) { $0.tls = addresses } }
    func bound(catchAll addresses: [ListenAddress]) { report(.catchAll) { $0.catchAll = addresses } }
    func bound(feeds addresses: [ListenAddress]) { report(.feeds) { $0.feeds = addresses } }
    func bound(metrics addresses: [ListenAddress]) { report(.metrics) { $0.metrics = addresses } }

    /// The services that have not reported yet, by name.
    var waitingFor: [String] { state.withLock { $0.waiting.map(\.rawValue).sorted() } }

    private func report(_ role: ListenerRole, _ update: (inout Bound) -> Void) {
        let done = state.withLock { state -> Bound? in
            update(&state.bound)
            guard state.waiting.remove(role) != nil else { return nil }
            return state.waiting.isEmpty ? state.bound : nil
        }
        if let done { ready(done) }
    }
}
