import SinkholeCore

/// What /status shows of the traffic, as the writer last published it: counts and top lists,
/// never the address sets behind them, so a request copies a small value.
public struct TrafficSnapshot: Sendable, Equatable {
    /// One family's traffic.
    public struct Family: Sendable, Equatable {
        /// The family from the configuration; "" for traffic no family claimed.
        public var name: String
        /// Check-ins per minute over the last 24 hours, each counted at the minute the writer
        /// formed its batch (writer clock; at most `flushInterval` after it arrived).
        public var perMinute: MinuteSeries
        /// Distinct infected addresses today (`infections` keys of today: never a DNS query's
        /// source, never traffic no family claimed, so 0 for "").
        public var uniqueAddresses: Int
        /// True when `uniqueAddresses` is a HyperLogLog estimate.
        public var uniqueIsEstimate: Bool

        public init(name: String, perMinute: MinuteSeries, uniqueAddresses: Int, uniqueIsEstimate: Bool) {
            self.name = name
            self.perMinute = perMinute
            self.uniqueAddresses = uniqueAddresses
            self.uniqueIsEstimate = uniqueIsEstimate
        }
    }

    /// A seized name (lowercased) and how often it was asked for today.
    public struct NameCount: Sendable, Equatable {
        public var family: String
        public var name: String
        public var count: Int
        /// True when `count` may overestimate (Space-Saving: the name was not tracked from its
        /// first sighting).
        public var approximate: Bool

        public init(family: String, name: String, count: Int, approximate: Bool = false) {
            self.family = family
            self.name = name
            self.count = count
            self.approximate = approximate
        }
    }

    /// A source AS and how many distinct infected addresses today it holds.
    public struct ASNCount: Sendable, Equatable {
        public var asn: UInt32
        public var count: Int
        public var approximate: Bool

        public init(asn: UInt32, count: Int, approximate: Bool = false) {
            self.asn = asn
            self.count = count
            self.approximate = approximate
        }
    }

    /// When the summary began counting: the writer's start, or the midnight of a day roll.
    public var since: UTCTime
    /// Writer clock when this snapshot was taken.
    public var updatedAt: UTCTime
    /// Sorted by name; a family appears once it has had traffic this run.
    public var families: [Family]
    /// The top 10 seized names today: DNS qnames, HTTP Hosts and TLS SNIs of a family (a name
    /// no family claims is not seized). A DNS name counts its queries, a Host or SNI its sessions.
    public var topNames: [NameCount]
    /// The top 10 source ASes by distinct infected addresses today; nil when the writer has no
    /// `sourceASN` (no feeds configured).
    public var topASNs: [ASNCount]?
    /// True once today's infected addresses passed `TrafficSummary.asnAddressLimit`: the AS
    /// ranking covers the first that many addresses only.
    public var asnRankingCapped: Bool

    /// Nothing counted yet, since `since`.
    public init(since: UTCTime) {
        self.since = since
        updatedAt = since
        families = []
        topNames = []
        topASNs = nil
        asnRankingCapped = false
    }

    public static let empty = TrafficSnapshot(since: UTCTime(microseconds: 0))
}

/// The in-memory summary of today's traffic the writer keeps for /status, fed one batch at a
/// time (never per event, never by reading the store back). Owned by the writer thread: no lock.
///
/// Memory is bounded whatever the bots do: a `MinuteSeries` per family (families come from the
/// configuration), an `AddressCardinality` per family (exact, then a 16 KiB estimate), `TopCounts`
/// of 1024 names and 1024 ASes, and at most `asnAddressLimit` addresses for the AS ranking.
public struct TrafficSummary: Sendable {
    /// Distinct addresses a day the AS ranking looks up (one longest-prefix match each). About
    /// 10 MiB at the cap; past it new addresses are not ranked, and the snapshot says so.
    public static let asnAddressLimit = 262_144
    /// Keys `TopCounts` tracks for names and for ASes.
    public static let topCapacity = 1024
    /// Entries of each top list in a snapshot.
    public static let topListLength = 10

    struct FamilyTraffic {
        var name: BoundedBytes<32>
        var perMinute = MinuteSeries()
        var unique: AddressCardinality
    }

    /// A seized name under its family, ordered by bytes (`TopCounts` breaks ties by key).
    struct NameKey: Hashable, Comparable {
        var family: BoundedBytes<32>
        var name: BoundedBytes<255>

        static func < (lhs: Self, rhs: Self) -> Bool {
            let families = Self.compare(lhs.family, rhs.family)
            return families != 0 ? families < 0 : Self.compare(lhs.name, rhs.name) < 0
        }

        static func compare<let n: Int>(_ a: BoundedBytes<n>, _ b: BoundedBytes<n>) -> Int {
            a.withBytes { x in
                b.withBytes { y in
                    for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
                    return x.count - y.count
                }
            }
        }
    }

    public private(set) var since: UTCTime
    /// Today's midnight (writer clock): what `infections` keys and DNS hours must fall in.
    private var day: UTCTime
    private var families: [FamilyTraffic] = []
    private var familyIndex: [BoundedBytes<32>: Int] = [:]
    private var names = TopCounts<NameKey>(capacity: TrafficSummary.topCapacity)
    private var asns = TopCounts<UInt32>(capacity: TrafficSummary.topCapacity)
    /// Today's infected addresses already ranked by AS, across families.
    private var ranked: Set<IPAddress> = []
    private var rankingCapped = false
    private let sourceASN: (@Sendable (IPAddress) -> UInt32?)?

    /// An empty summary counting from `start`. `sourceASN` maps an address to its AS (nil:
    /// no AS ranking).
    public init(start: UTCTime, sourceASN: (@Sendable (IPAddress) -> UInt32?)? = nil) {
        since = start
        day = start.dayStart
        self.sourceASN = sourceASN
    }

    /// Starts a new day when `now` is past today: today's figures (addresses, names, ASes) are
    /// forgotten and `since` becomes the new midnight. The per-minute series are kept: they are
    /// the last 24 hours, across midnight. A clock stepping back to an earlier day rolls nothing.
    /// Returns true when it rolled.
    public mutating func roll(to now: UTCTime) -> Bool {
        let today = now.dayStart
        guard today > day else { return false }
        day = today
        since = today
        for index in families.indices { families[index].unique.reset(forDay: today) }
        names = TopCounts(capacity: Self.topCapacity)
        asns = TopCounts(capacity: Self.topCapacity)
        ranked = []
        rankingCapped = false
        return true
    }

    /// Folds one batch in, formed at `now` (writer clock). Call `roll(to:)` first.
    public mutating func add(_ batch: StoreBatch, at now: UTCTime) {
        let minute = MinuteSeries.minute(of: now)
        for (key, row) in batch.summary.services where row.events > 0 {
            families[slot(key.family)].perMinute.add(row.events, atMinute: minute)
        }
        for key in batch.infections.keys where key.day == day.seconds {
            families[slot(key.family)].unique.insert(key.source)
            rank(key.source)
        }
        let dayEnd = day.seconds + 86_400
        for (key, row) in batch.dnsQueries where !row.family.isEmpty && key.hour >= day.seconds && key.hour < dayEnd {
            names.add(NameKey(family: row.family, name: key.qname), row.count)
        }
        // A name no family claims is not a seized one: a scanner's Host (often an address).
        for (key, sessions) in batch.summary.names
        where sessions > 0 && !key.family.isEmpty && key.hour >= day.seconds && key.hour < dayEnd {
            names.add(NameKey(family: key.family, name: key.name), sessions)
        }
    }

    /// One longest-prefix match per address new today, never per event.
    private mutating func rank(_ address: IPAddress) {
        guard let sourceASN else { return }
        if ranked.count >= Self.asnAddressLimit {
            if !ranked.contains(address) { rankingCapped = true }
            return
        }
        guard ranked.insert(address).inserted, let asn = sourceASN(address) else { return }
        asns.add(asn)
    }

    private mutating func slot(_ family: BoundedBytes<32>) -> Int {
        if let index = familyIndex[family] { return index }
        families.append(FamilyTraffic(name: family, unique: AddressCardinality(day: day)))
        familyIndex[family] = families.count - 1
        return families.count - 1
    }

    /// The counts and top lists at `now`, for readers on other threads.
    public func snapshot(at now: UTCTime) -> TrafficSnapshot {
        var out = TrafficSnapshot(since: since)
        out.updatedAt = now
        out.families = families.map { traffic in
            TrafficSnapshot.Family(name: traffic.name.description, perMinute: traffic.perMinute,
                                   uniqueAddresses: traffic.unique.count, uniqueIsEstimate: traffic.unique.isEstimate)
        }.sorted { $0.name < $1.name }
        out.topNames = names.top(Self.topListLength).map { entry in
            TrafficSnapshot.NameCount(family: entry.key.family.description, name: entry.key.name.description,
                                      count: entry.count, approximate: !entry.isExact)
        }
        if sourceASN != nil {
            out.topASNs = asns.top(Self.topListLength).map {
                TrafficSnapshot.ASNCount(asn: $0.key, count: $0.count, approximate: !$0.isExact)
            }
        }
        out.asnRankingCapped = rankingCapped
        return out
    }
}
