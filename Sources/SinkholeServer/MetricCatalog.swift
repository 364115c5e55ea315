/// Every series `/metrics` exposes, with its type, HELP text and label names, in one place.
///
/// swift-prometheus stops the process when one name is registered twice with a different HELP
/// text or type, so nothing registers a name except from here; the Grafana dashboard and its
/// test read the same list. Labels come only from closed sets (services, families from the
/// configuration, rcodes, statuses, listener roles, ring and thread names): never an address,
/// a qname, a Host or a port, which bots choose and would make the series count unbounded.
public struct MetricDefinition: Sendable, Hashable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public let name: String
    public let kind: Kind
    public let help: String
    public let labels: [String]

    init(_ name: String, _ kind: Kind, _ help: String, labels: [String] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.labels = labels
    }
}

public enum MetricCatalog {
    // Identity and lifetime.
    static let buildInfo = MetricDefinition(
        "sinkhole_build_info", .gauge, "Always 1; the labels say which build and node this is.", labels: ["version", "node"])
    static let startTime = MetricDefinition(
        "process_start_time_seconds", .gauge, "When this sinkhole process started, in seconds since the Unix epoch.")
    static let ready = MetricDefinition(
        "sinkhole_ready", .gauge, "1 when /readyz answers 200: every listener bound, store writable, writer and threads making progress.")
    static let heartbeatAge = MetricDefinition(
        "sinkhole_heartbeat_age_seconds", .gauge, "Seconds since each watched thread last showed progress.", labels: ["thread"])

    // What came in.
    static let checkIns = MetricDefinition(
        "sinkhole_checkins_total", .counter,
        "Check-in events folded by the writer, by service and seized family ((none): not under a seized name or address).",
        labels: ["service", "family"])
    static let infectedToday = MetricDefinition(
        "sinkhole_infected_addresses_today", .gauge,
        "Distinct infected source addresses seen since UTC midnight, per family (estimated beyond 65536).", labels: ["family"])
    static let dnsResponses = MetricDefinition(
        "sinkhole_dns_responses_total", .counter, "DNS queries logged, by transport and the rcode decided for them.",
        labels: ["transport", "rcode"])
    static let dnsRateLimited = MetricDefinition(
        "sinkhole_dns_rate_limited_total", .counter, "DNS responses response rate limiting held back, by what went out instead.",
        labels: ["action"])
    static let httpResponses = MetricDefinition(
        "sinkhole_http_responses_total", .counter, "HTTP requests answered, by service (http, tls) and status.",
        labels: ["service", "status"])
    static let httpLimits = MetricDefinition(
        "sinkhole_http_limits_total", .counter,
        "HTTP requests refused: head too large, uri too long, body too large, bad_request (framing), timeout.", labels: ["limit"])
    static let udpDatagrams = MetricDefinition(
        "sinkhole_udp_datagrams_total", .counter, "Datagrams the UDP workers received, per listener role.", labels: ["listener"])
    static let udpUnsent = MetricDefinition(
        "sinkhole_udp_unsent_replies_total", .counter, "UDP replies the kernel refused to send, per listener role.",
        labels: ["listener"])

    // Connections.
    static let connectionsOpen = MetricDefinition(
        "sinkhole_tcp_connections_open", .gauge, "TCP connections open now, per listener role.", labels: ["listener"])
    static let connectionsLimit = MetricDefinition(
        "sinkhole_tcp_connections_limit", .gauge, "The most TCP connections a listener role keeps open.", labels: ["listener"])
    static let connectionsEvicted = MetricDefinition(
        "sinkhole_tcp_connections_evicted_total", .counter,
        "Idle TCP connections closed to admit a new one at the limit, per listener role.", labels: ["listener"])

    // Loss accounting: offered == stored + dropped + in flight.
    static let eventsOffered = MetricDefinition(
        "sinkhole_events_offered_total", .counter, "Events producers offered to the rings, as the store last recorded them.")
    static let eventsStored = MetricDefinition(
        "sinkhole_events_stored_total", .counter, "Events committed to the store.")
    static let eventsDropped = MetricDefinition(
        "sinkhole_events_dropped_total", .counter, "Events refused by a full ring, as the store last recorded them.")
    static let ringOffered = MetricDefinition(
        "sinkhole_ring_events_offered_total", .counter, "Events offered to each producer's ring.", labels: ["ring"])
    static let ringDropped = MetricDefinition(
        "sinkhole_ring_events_dropped_total", .counter, "Events each ring refused because it was full.", labels: ["ring"])
    static let ringInFlight = MetricDefinition(
        "sinkhole_ring_events_in_flight", .gauge, "Events waiting in each ring for the writer.", labels: ["ring"])

    // The writer and the store.
    static let writerBatches = MetricDefinition(
        "sinkhole_writer_batches_total", .counter, "Batches committed to the store.")
    static let writerBatchDuration = MetricDefinition(
        "sinkhole_writer_batch_duration_seconds", .histogram, "Time one batch's store transaction took.")
    static let writerLag = MetricDefinition(
        "sinkhole_writer_lag_seconds", .gauge, "Seconds since the last commit while events wait; 0 when nothing waits.")
    static let writerPending = MetricDefinition(
        "sinkhole_writer_pending_events", .gauge, "Events drained or waiting in the rings but not yet committed.")
    static let spillBatches = MetricDefinition(
        "sinkhole_writer_spill_batches", .gauge, "Batches held in memory while the store refuses writes.")
    static let spillLimit = MetricDefinition(
        "sinkhole_writer_spill_limit_batches", .gauge, "The most batches the writer holds before leaving events in the rings.")
    static let storeErrors = MetricDefinition(
        "sinkhole_store_write_errors_total", .counter, "Store writes that failed (each is retried with backoff).")
    static let storeRetries = MetricDefinition(
        "sinkhole_store_write_retries_total", .counter, "Attempts at a batch the store had refused before.")
    static let storeFailing = MetricDefinition(
        "sinkhole_store_failing", .gauge, "1 while the store refuses writes.")
    static let retentionDeleted = MetricDefinition(
        "sinkhole_store_retention_deleted_rows_total", .counter, "Rows the retention sweep deleted.")

    // Capture.
    static let pcapReceived = MetricDefinition(
        "sinkhole_pcap_received_packets_total", .counter, "Packets libpcap received (pcap_stats ps_recv).", labels: ["interface"])
    static let pcapDropped = MetricDefinition(
        "sinkhole_pcap_dropped_packets_total", .counter,
        "Packets the kernel dropped because the capture buffer was full (ps_drop).", labels: ["interface"])
    static let pcapInterfaceDropped = MetricDefinition(
        "sinkhole_pcap_interface_dropped_packets_total", .counter,
        "Packets the interface or its driver dropped (ps_ifdrop).", labels: ["interface"])

    // Seized names and reloads.
    static let seizedNames = MetricDefinition(
        "sinkhole_seized_names", .gauge, "Seized names loaded per family (list entries, today's lists for dated ones).",
        labels: ["family"])
    static let reloads = MetricDefinition(
        "sinkhole_reloads_total", .counter, "Reloads of the seized names and feeds (SIGHUP, midnight roll), by result.",
        labels: ["result"])
    static let reloadLastSuccess = MetricDefinition(
        "sinkhole_reload_last_success_timestamp_seconds", .gauge,
        "When the seized names were last loaded successfully, in seconds since the Unix epoch.")
    static let reloadLastSuccessful = MetricDefinition(
        "sinkhole_reload_last_successful", .gauge, "1 when the last reload succeeded, 0 when it failed and the old names stay.")

    /// Every definition, in the order they are documented.
    public static let all: [MetricDefinition] = [
        buildInfo, startTime, ready, heartbeatAge,
        checkIns, infectedToday, dnsResponses, dnsRateLimited, httpResponses, httpLimits, udpDatagrams, udpUnsent,
        connectionsOpen, connectionsLimit, connectionsEvicted,
        eventsOffered, eventsStored, eventsDropped, ringOffered, ringDropped, ringInFlight,
        writerBatches, writerBatchDuration, writerLag, writerPending, spillBatches, spillLimit,
        storeErrors, storeRetries, storeFailing, retentionDeleted,
        pcapReceived, pcapDropped, pcapInterfaceDropped,
        seizedNames, reloads, reloadLastSuccess, reloadLastSuccessful,
    ]
}
