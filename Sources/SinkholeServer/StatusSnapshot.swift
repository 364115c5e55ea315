import SinkholeCore
import SinkholeStore

/// Everything /status shows, as plain values: the writer's in-memory summary and the loss
/// counters copied out at request time, so `StatusPage.render` is a pure function of it.
public struct StatusSnapshot: Sendable, Equatable {
    /// One family's traffic today.
    public struct Family: Sendable, Equatable {
        /// The family's name from configuration (escaped when printed all the same).
        public var name: String
        /// Check-ins per minute, oldest first, ending at the minute of `generatedAt`:
        /// `MinuteSeries.values(endingAt:)`, 1440 values.
        public var perMinute: [Int]
        /// Distinct infected addresses since UTC midnight (`AddressCardinality.count`).
        public var uniqueAddresses: Int
        /// True when `uniqueAddresses` is an estimate: printed with "≈".
        public var uniqueIsEstimate: Bool

        public init(name: String, perMinute: [Int], uniqueAddresses: Int, uniqueIsEstimate: Bool) {
            self.name = name
            self.perMinute = perMinute
            self.uniqueAddresses = uniqueAddresses
            self.uniqueIsEstimate = uniqueIsEstimate
        }
    }

    /// A seized name and how often it was asked for today (a `TopCounts` entry).
    public typealias NameCount = TrafficSnapshot.NameCount
    /// A source AS and how many distinct infected addresses today came from it. Numbers only:
    /// prefix2as files carry no AS names.
    public typealias ASNCount = TrafficSnapshot.ASNCount

    /// Where events are lost, or about to be; each indicator is red when its count is above 0.
    public struct Drops: Sendable, Equatable {
        /// Events a full ring refused (`EventRings` totals), the capture's ring included.
        public var ringDropped: Int
        /// Batches the writer holds while the store refuses writes. Not lost yet, but a running
        /// writer never discards: once its spill is full the rings fill and drop instead, so
        /// this is the writer's loss in the making.
        public var writerHeld: Int
        /// Packets pcap lost before the sinkhole saw them (kernel and interface drops); nil
        /// when capture is off.
        public var pcapDropped: Int?

        public init(ringDropped: Int, writerHeld: Int, pcapDropped: Int?) {
            self.ringDropped = ringDropped
            self.writerHeld = writerHeld
            self.pcapDropped = pcapDropped
        }
    }

    public var node: String
    public var version: String
    public var generatedAt: UTCTime
    /// When the in-memory summary began counting, if that was after today's midnight (the run
    /// started today): the page says the figures cover only since then.
    public var since: UTCTime?
    public var families: [Family]
    public var topNames: [NameCount]
    /// nil when no feeds are configured (no AS data): the section is left out.
    public var topASNs: [ASNCount]?
    /// True once today's infected addresses outnumber what the AS ranking follows
    /// (`TrafficSummary.asnAddressLimit`): the page says the ranking covers the first ones only.
    public var asnRankingCapped = false
    public var drops: Drops

    public init(
        node: String, version: String, generatedAt: UTCTime, since: UTCTime? = nil,
        families: [Family], topNames: [NameCount], topASNs: [ASNCount]?, drops: Drops
    ) {
        self.node = node
        self.version = version
        self.generatedAt = generatedAt
        self.since = since
        self.families = families
        self.topNames = topNames
        self.topASNs = topASNs
        self.drops = drops
    }
}
