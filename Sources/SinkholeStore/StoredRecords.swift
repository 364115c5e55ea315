import SinkholeCore

/// A `checkins` row as the feeds read it back: one session (a connection, a request, a
/// datagram flow) with its repeats folded in. Text from the network is the stored bytes, not a
/// decoded string, so an export renders exactly what the bot sent.
public struct StoredCheckIn: Sendable, Equatable {
    public var node: String
    public var eventID: String
    public var firstSeen: UTCTime
    public var lastSeen: UTCTime
    public var count: Int
    /// `tcp` or `udp` (ICMP packets: `icmp`).
    public var transport: String
    /// `http`, `tls`, `tcp`, `udp`, `packet`.
    public var service: String
    public var family: String
    public var source: IPAddress
    public var sourcePort: Int
    public var destination: IPAddress
    public var destinationPort: Int
    /// The HTTP Host, else the TLS SNI (see `CheckIn.name`).
    public var name: [UInt8]
    public var httpMethod: [UInt8]
    public var httpPath: [UInt8]
    /// `1.0`, `1.1`, or empty.
    public var httpVersion: String
    public var httpUserAgent: [UInt8]
    public var httpReferer: [UInt8]
    public var httpForwardedFor: [UInt8]
    public var tlsServerName: [UInt8]
    /// The suite the sinkhole chose, else the client's preferred one; empty when not TLS.
    public var tlsCipher: String
    public var tlsVersion: String
    public var tcpFlags: Int

    public init(node: String, eventID: String, firstSeen: UTCTime, lastSeen: UTCTime, count: Int,
                transport: String, service: String, family: String, source: IPAddress, sourcePort: Int,
                destination: IPAddress, destinationPort: Int, name: [UInt8] = [], httpMethod: [UInt8] = [],
                httpPath: [UInt8] = [], httpVersion: String = "", httpUserAgent: [UInt8] = [],
                httpReferer: [UInt8] = [], httpForwardedFor: [UInt8] = [], tlsServerName: [UInt8] = [],
                tlsCipher: String = "", tlsVersion: String = "", tcpFlags: Int = 0) {
        self.node = node; self.eventID = eventID; self.firstSeen = firstSeen; self.lastSeen = lastSeen
        self.count = count; self.transport = transport; self.service = service; self.family = family
        self.source = source; self.sourcePort = sourcePort; self.destination = destination
        self.destinationPort = destinationPort; self.name = name; self.httpMethod = httpMethod
        self.httpPath = httpPath; self.httpVersion = httpVersion; self.httpUserAgent = httpUserAgent
        self.httpReferer = httpReferer; self.httpForwardedFor = httpForwardedFor
        self.tlsServerName = tlsServerName; self.tlsCipher = tlsCipher; self.tlsVersion = tlsVersion
        self.tcpFlags = tcpFlags
    }
}

/// A `dns_queries` row: one (UTC hour, querying address, qname, qtype) with its count.
public struct StoredDNSQuery: Sendable, Equatable {
    public var hour: UTCTime
    public var source: IPAddress
    public var lastSourcePort: Int
    public var qname: [UInt8]
    public var qtype: Int
    public var count: Int
    public var firstSeen: UTCTime
    public var lastSeen: UTCTime
    public var family: String

    public init(hour: UTCTime, source: IPAddress, lastSourcePort: Int, qname: [UInt8], qtype: Int, count: Int,
                firstSeen: UTCTime, lastSeen: UTCTime, family: String) {
        self.hour = hour; self.source = source; self.lastSourcePort = lastSourcePort; self.qname = qname
        self.qtype = qtype; self.count = count; self.firstSeen = firstSeen; self.lastSeen = lastSeen
        self.family = family
    }
}

/// An `infections` row: one source address and family on one UTC day.
public struct StoredInfection: Sendable, Equatable {
    public var day: String
    public var source: IPAddress
    public var family: String
    public var firstSeen: UTCTime
    public var lastSeen: UTCTime
    public var count: Int
    public var lastSourcePort: Int

    public init(day: String, source: IPAddress, family: String, firstSeen: UTCTime, lastSeen: UTCTime,
                count: Int, lastSourcePort: Int) {
        self.day = day; self.source = source; self.family = family; self.firstSeen = firstSeen
        self.lastSeen = lastSeen; self.count = count; self.lastSourcePort = lastSourcePort
    }
}

/// What the feeds read from a store: one UTC day's records, each kind in a fixed order so the
/// same day exports to the same bytes, streamed row by row so memory stays flat.
public protocol StoredDayReader {
    /// Rows each `forEach…` will visit (for progress), counted by the index.
    func counts(day: UTCTime) throws -> (checkIns: Int, dnsQueries: Int, infections: Int)
    /// Sessions that started on `day` with a family, by start time, node and event id.
    func forEachCheckIn(day: UTCTime, _ body: (StoredCheckIn) throws -> Void) throws
    /// DNS rows of `day`'s hours for seized names, in key order.
    func forEachDNSQuery(day: UTCTime, _ body: (StoredDNSQuery) throws -> Void) throws
    /// The day's infected addresses, by address and family.
    func forEachInfection(day: UTCTime, _ body: (StoredInfection) throws -> Void) throws
}
