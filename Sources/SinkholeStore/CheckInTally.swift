import SinkholeCore

/// Running totals of every event the writer drained: check-ins per service and family, DNS
/// responses per transport and rcode, HTTP responses per status. /metrics reads them as counters.
///
/// Check-ins come from each batch's summary (`add(_:)`), which the deduplicator already keeps
/// per service and family. Responses are counted per event (`count(_:)`), because the batch
/// keeps only a row's last rcode and a session's status: that runs inside the writer's drain, so
/// counts sit in flat arrays indexed by transport, rcode and status, and nothing allocates once
/// every status in the traffic has been seen. The dictionaries readers want are built on read,
/// at most once a scrape.
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

    /// Check-ins per service and family ("" when nothing identified it).
    public private(set) var checkIns: [ServiceFamily: Int] = [:]
    /// `transportSlots` × 256 rcodes.
    private var dnsCounts = [Int](repeating: 0, count: Self.transportSlots * 256)
    /// 2 services (http, tls) × `statusSlots` statuses; a status past the table (not a
    /// three-digit HTTP status, RFC 9110 §15) goes to `otherStatuses`.
    private var httpCounts = [Int](repeating: 0, count: 2 * Self.statusSlots)
    private var otherStatuses: [HTTPResponse: Int] = [:]

    static let transportSlots = 3
    static let statusSlots = 600

    public init() {}

    /// Adds a batch's check-ins: its summary's events per service and family, summed over hours.
    public mutating func add(_ summary: StoreSummary) {
        for (key, row) in summary.services where row.events > 0 {
            checkIns[ServiceFamily(service: key.service, family: key.family.description), default: 0] += row.events
        }
    }

    /// Counts one drained event's response:
    ///
    /// - `.dns`: in `dnsResponses` under its transport and rcode (a rate-limited query under the
    ///   rcode that was decided);
    /// - `.http` and `.tls`: in `httpResponses` under its status, 0 included (a TLS session with
    ///   no request inside, a connection that went before it was answered), so the statuses of a
    ///   service add up to its check-ins. Other services send no response to count.
    public mutating func count(_ event: CheckIn) {
        switch event.service {
        case .dns:
            dnsCounts[Self.transportIndex(event.transport) * 256 + Int(event.dnsRcode)] += 1
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

    private static func transportIndex(_ transport: CheckIn.Transport) -> Int {
        switch transport {
        case .udp: 0
        case .tcp: 1
        case .icmp: 2
        }
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
}
