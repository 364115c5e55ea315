import SinkholeCore

/// Running totals of every event the writer drained: check-ins per service and family, DNS
/// responses per transport and rcode, HTTP responses per status. /metrics reads them as counters.
///
/// `count(_:)` runs once per event inside the writer's drain, so it must cost next to nothing:
/// counts sit in flat arrays indexed by small integers (service, transport, rcode, status), and a
/// family is found by a linear scan of the few families seen so far (families come from the
/// configuration, a handful; comparing one's bytes is cheaper than hashing them). Nothing
/// allocates once every family and status in the traffic has been seen. The dictionaries readers
/// want are built on read, at most once a scrape.
public struct CheckInTally: Sendable, Equatable {
    public struct ServiceFamily: Hashable, Sendable {
        public var service: CheckIn.Service
        /// "" when nothing identified the family.
        public var family: String

        public init(service: CheckIn.Service, family: String) {
            self.service = service
            self.family = family
        }
    }

    public struct DNSResponse: Hashable, Sendable {
        public var transport: CheckIn.Transport
        /// The rcode answered with, or `CheckIn.noResponse` (0xff) when nothing was sent.
        public var rcode: UInt8

        public init(transport: CheckIn.Transport, rcode: UInt8) {
            self.transport = transport
            self.rcode = rcode
        }
    }

    public struct HTTPResponse: Hashable, Sendable {
        /// `.http` or `.tls`.
        public var service: CheckIn.Service
        /// The status answered with; 0 when no response was sent.
        public var status: UInt16

        public init(service: CheckIn.Service, status: UInt16) {
            self.service = service
            self.status = status
        }
    }

    /// Families in order of first sighting; `perFamily` holds `serviceSlots` counts for each.
    private var families: [BoundedBytes<32>] = []
    private var perFamily: [Int] = []
    /// Where the last event's family was found: consecutive events mostly share one.
    private var lastFamily = 0
    /// `transportSlots` × 256 rcodes.
    private var dnsCounts = [Int](repeating: 0, count: Self.transportSlots * 256)
    /// 2 services (http, tls) × `statusSlots` statuses; a status past the table (not a
    /// three-digit HTTP status, RFC 9110 §15) goes to `otherStatuses`.
    private var httpCounts = [Int](repeating: 0, count: 2 * Self.statusSlots)
    private var otherStatuses: [HTTPResponse: Int] = [:]

    /// DNS queries whose reply response rate limiting held back (dropped, or sent truncated).
    /// They are counted in `dnsResponses` too, under the rcode that was decided.
    public private(set) var dnsRateLimited = 0

    static let serviceSlots = 8
    static let transportSlots = 3
    static let statusSlots = 600

    public init() {}

    /// Counts one drained event.
    ///
    /// - every event: in `checkIns` under its service and family;
    /// - `.dns`: in `dnsResponses` under its transport and rcode, and in `dnsRateLimited` when
    ///   rate limited;
    /// - `.http` and `.tls`: in `httpResponses` under its status, 0 included (a TLS session with
    ///   no request inside, a connection that went before it was answered), so the statuses of a
    ///   service add up to its check-ins. A capture engine's `.packet` event is not a response.
    public mutating func count(_ event: CheckIn) {
        let family = familySlot(event.family)
        perFamily[family * Self.serviceSlots + Int(event.service.rawValue)] += 1
        switch event.service {
        case .dns:
            dnsCounts[Self.transportIndex(event.transport) * 256 + Int(event.dnsRcode)] += 1
            if event.rateLimited { dnsRateLimited += 1 }
        case .http, .tls:
            let status = Int(event.httpStatus)
            if status < Self.statusSlots {
                httpCounts[(event.service == .http ? 0 : Self.statusSlots) + status] += 1
            } else {
                otherStatuses[HTTPResponse(service: event.service, status: event.httpStatus), default: 0] += 1
            }
        case .tcp, .udp, .packet:
            break
        }
    }

    private mutating func familySlot(_ family: BoundedBytes<32>) -> Int {
        if lastFamily < families.count && families[lastFamily] == family { return lastFamily }
        for index in families.indices where families[index] == family {
            lastFamily = index
            return index
        }
        families.append(family)
        perFamily.append(contentsOf: repeatElement(0, count: Self.serviceSlots))
        lastFamily = families.count - 1
        return lastFamily
    }

    private static func transportIndex(_ transport: CheckIn.Transport) -> Int {
        switch transport {
        case .udp: 0
        case .tcp: 1
        case .icmp: 2
        }
    }

    /// Check-ins per service and family; pairs never seen are absent.
    public var checkIns: [ServiceFamily: Int] {
        var out: [ServiceFamily: Int] = [:]
        for (index, family) in families.enumerated() {
            let name = family.description
            for service in CheckIn.Service.allCases {
                let count = perFamily[index * Self.serviceSlots + Int(service.rawValue)]
                if count > 0 { out[ServiceFamily(service: service, family: name), default: 0] += count }
            }
        }
        return out
    }

    /// DNS responses per transport and rcode (`CheckIn.noResponse` when none was sent).
    public var dnsResponses: [DNSResponse: Int] {
        var out: [DNSResponse: Int] = [:]
        for transport in CheckIn.Transport.allCases {
            let base = Self.transportIndex(transport) * 256
            for rcode in 0..<256 where dnsCounts[base + rcode] > 0 {
                out[DNSResponse(transport: transport, rcode: UInt8(rcode))] = dnsCounts[base + rcode]
            }
        }
        return out
    }

    /// HTTP responses of the HTTP and TLS services per status (0: none was sent).
    public var httpResponses: [HTTPResponse: Int] {
        var out = otherStatuses
        for (offset, service) in [(0, CheckIn.Service.http), (Self.statusSlots, .tls)] {
            for status in 0..<Self.statusSlots where httpCounts[offset + status] > 0 {
                out[HTTPResponse(service: service, status: UInt16(status))] = httpCounts[offset + status]
            }
        }
        return out
    }

    /// Equal when every reader-visible count is: the order families were first seen in is not
    /// part of the value.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.dnsRateLimited == rhs.dnsRateLimited && lhs.dnsCounts == rhs.dnsCounts
            && lhs.httpCounts == rhs.httpCounts && lhs.otherStatuses == rhs.otherStatuses
            && lhs.checkIns == rhs.checkIns
    }
}
