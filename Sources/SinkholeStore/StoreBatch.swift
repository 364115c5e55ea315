import SinkholeCore

/// Everything one writer pass commits, in one transaction: the folded rows and the run's
/// counters. Rows are deltas to merge with what is stored (counts add, first seen is the
/// minimum, last seen the maximum), so several nodes can write one store.
public struct StoreBatch: Sendable {
    /// New or continued sessions, keyed by `(node, eventID)`.
    public var checkIns: [CheckInRow] = []
    public var infections: [InfectionKey: InfectionRow] = [:]
    public var dnsQueries: [DNSQueryKey: DNSQueryRow] = [:]
    /// Hourly summaries `sinkhole stats` reads instead of scanning `checkins` and
    /// `dns_queries`: small, since their keys repeat (a handful of services, families, C&C
    /// names and resolvers), so a batch adds a few rows whatever its size.
    public var summary = StoreSummary()
    /// The run's totals after this batch (absolute, not deltas).
    public var counters = RunCounters()
    /// Set on the last batch of a run, after every ring was drained.
    public var finishedAt: UTCTime? = nil

    public init() {}

    public var isEmpty: Bool { checkIns.isEmpty && infections.isEmpty && dnsQueries.isEmpty && summary.isEmpty }
}

/// Counters that prove nothing was lost: `offered == stored + dropped + in flight`.
public struct RunCounters: Sendable, Equatable {
    /// Events producers offered to the rings.
    public var offered: Int = 0
    /// Events folded into committed rows.
    public var stored: Int = 0
    /// Events refused by a full ring.
    public var dropped: Int = 0

    public init(offered: Int = 0, stored: Int = 0, dropped: Int = 0) {
        self.offered = offered
        self.stored = stored
        self.dropped = dropped
    }
}

/// One `checkins` row: a bot session after deduplication.
public struct CheckInRow: Sendable {
    /// Stable and unique per node: derived from the session's 5-tuple and first-seen time.
    public var eventID: String
    /// The session's first event, enriched with detail from later events of the same session.
    public var checkIn: CheckIn
    public var lastSeen: UTCTime
    /// Events folded into this row by this batch (added to the stored count).
    public var count: Int
    /// The session opened in this batch: as far as this writer knows, no row has its key yet
    /// (one may, when a capture is replayed twice), so a store may insert it without merging.
    /// False for a delta row of a session an earlier batch stored.
    public var opensSession: Bool
}

/// Key of an `infections` row: one bot (source address) of one family on one UTC day.
public struct InfectionKey: Hashable, Sendable {
    /// The UTC day as seconds since the epoch of its midnight.
    public var day: Int64
    public var source: IPAddress
    public var family: BoundedBytes<32>
}

public struct InfectionRow: Sendable, Equatable {
    public var firstSeen: UTCTime
    public var lastSeen: UTCTime
    public var count: Int
    /// The source port of the latest check-in (for CGNAT lookups).
    public var lastSourcePort: UInt16
}

/// Key of a `dns_queries` row: one querying address asking one name and type in one UTC hour.
public struct DNSQueryKey: Hashable, Sendable {
    /// The UTC hour as seconds since the epoch of its start.
    public var hour: Int64
    public var source: IPAddress
    /// The qname folded to lowercase: resolvers randomise letter case (DNS 0x20), which would
    /// otherwise split one name's count over many rows.
    public var qname: BoundedBytes<255>
    public var qtype: UInt16
}

public struct DNSQueryRow: Sendable, Equatable {
    public var firstSeen: UTCTime
    public var lastSeen: UTCTime
    public var count: Int
    public var lastRcode: UInt8
    public var family: BoundedBytes<32>
    /// How many of `count` were rate limited (reply truncated or dropped).
    public var rateLimited: Int = 0
    /// The source port of the row's last query: the feeds' `src_port` (RFC 6302 asks for the
    /// port of every logged address, and a resolver's address alone names no customer).
    public var lastSourcePort: UInt16 = 0
}

/// The hourly summaries a batch adds to (deltas, as every row of a batch).
public struct StoreSummary: Sendable {
    /// Events and new sessions per (hour, service, family); DNS queries are events with no
    /// session.
    public var services: [ServiceHourKey: ServiceHourRow] = [:]
    /// New sessions per (hour, family, name) for check-ins that named something (an HTTP
    /// Host, a TLS SNI): the C&C names bots connect to. DNS names are not summarised here: a
    /// DGA family asks for thousands of distinct names an hour, which would make this as big
    /// as `dns_queries` (stats reads those from `dns_queries` itself).
    public var names: [NameHourKey: Int] = [:]
    /// DNS queries per (hour, querying address): the resolvers asking for seized names.
    public var resolvers: [ResolverHourKey: Int] = [:]

    public init() {}

    public var isEmpty: Bool { services.isEmpty && names.isEmpty && resolvers.isEmpty }
}

public struct ServiceHourKey: Hashable, Sendable {
    /// The UTC hour as seconds since the epoch of its start.
    public var hour: Int64
    public var service: CheckIn.Service
    public var family: BoundedBytes<32>
}

public struct ServiceHourRow: Sendable, Equatable {
    /// Check-in events (every DNS query, connection, request, datagram or packet).
    public var events: Int = 0
    /// Sessions started (new `checkins` rows), under the row's service and family: -1 here
    /// and +1 there when an enriching event moves a session (`packet` to `http`); 0 for DNS.
    public var sessions: Int = 0
}

public struct NameHourKey: Hashable, Sendable {
    public var hour: Int64
    public var family: BoundedBytes<32>
    /// Folded to lowercase, as DNS names compare.
    public var name: BoundedBytes<255>
}

public struct ResolverHourKey: Hashable, Sendable {
    public var hour: Int64
    public var source: IPAddress
}
