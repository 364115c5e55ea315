import NIOCore
import SinkholeCore

/// Answers DNS queries for seized names with the sinkhole's addresses, and fills the DNS part
/// of the `CheckIn` for every query.
///
/// Pure: bytes in, bytes and event fields out. It does not know the time, the addresses or
/// the ports; the caller (a channel handler, the capture replay) sets those.
///
/// Policy, in order:
/// - shorter than a header, or QR set: send nothing (`dnsRcode = CheckIn.noResponse`);
/// - OPCODE other than QUERY: NOTIMP (RFC 1035 §4.1.1), question echoed if readable;
/// - question unreadable, or QDCOUNT not 1: FORMERR (RFC 9619 §3), ID, OPCODE and RD echoed;
/// - QCLASS other than IN, or a name under no seized name: REFUSED. The sinkhole is not a
///   resolver and must not claim such names do not exist: an NXDOMAIN would deny the whole
///   subtree (RFC 8020) in a shared resolver's cache;
/// - a seized name (apex or subdomain): authoritative NOERROR with all the family's addresses
///   of the asked type (A → IPv4, AAAA → IPv6), or none (NODATA, RFC 2308 §2.2) for any other
///   type, or a type the family has no address of.
public struct DNSResponder: Sendable {
    public let zones: SeizedZones
    public let ttl: UInt32
    // Per family, the answers split by type once here, not filtered per query.
    private let ipv4Answers: [[IPAddress]]
    private let ipv6Answers: [[IPAddress]]

    public init(zones: SeizedZones, ttl: UInt32) {
        self.zones = zones
        self.ttl = ttl
        ipv4Answers = zones.families.map { $0.answers.filter { $0.family == .v4 } }
        ipv6Answers = zones.families.map { $0.answers.filter { $0.family == .v6 } }
    }

    /// Writes the response to `request` into `response` and fills `checkIn.name`, `.dnsType`,
    /// `.dnsRcode` and `.family`. Returns false when nothing must be sent (and writes nothing).
    ///
    /// `sizeLimit` bounds the response (512 for UDP without EDNS, RFC 1035 §4.2.1).
    public func respond(
        to request: ByteBuffer, into response: inout ByteBuffer, checkIn: inout CheckIn,
        sizeLimit: Int = DNSResponse.udpSizeLimit
    ) -> Bool {
        checkIn.name = BoundedBytes()
        checkIn.family = BoundedBytes()
        checkIn.dnsType = 0
        let reply: DNSResponse
        switch DNSQuery.parse(request) {
        case .noReply:
            checkIn.dnsRcode = CheckIn.noResponse
            return false
        case .malformed(let header, _):
            let rcode: DNSRcode = header.opcode == DNSOpcode.query ? .formErr : .notImp
            reply = DNSResponse(
                id: header.id, opcode: header.opcode, rcode: rcode,
                recursionDesired: header.recursionDesired
            )
        case .query(let query):
            reply = answer(query, checkIn: &checkIn)
        }
        checkIn.dnsRcode = reply.rcode.rawValue
        reply.write(into: &response, sizeLimit: sizeLimit)
        return true
    }

    /// The response to a query with one readable question.
    func answer(_ query: DNSQuery, checkIn: inout CheckIn) -> DNSResponse {
        let question = query.question
        question.name.forEachPresentationByte { checkIn.name.append($0) }
        checkIn.dnsType = question.type
        // The family labels the check-in whatever the answer: a bot that named a seized
        // domain is evidence even when its query was one we refuse.
        let match = zones.match(question.name)
        if let match { checkIn.family = BoundedBytes(match.family) }

        var reply = DNSResponse(
            id: query.header.id, opcode: query.header.opcode, rcode: .refused,
            recursionDesired: query.header.recursionDesired, question: question, ttl: ttl
        )
        guard query.header.opcode == DNSOpcode.query else {
            reply.rcode = .notImp
            return reply
        }
        // Only class IN holds seized data; CHAOS `version.bind` and the like are refused.
        guard question.class == DNSClass.internet, let match else { return reply }
        reply.rcode = .noError
        reply.authoritative = true
        switch question.type {
        case DNSRecordType.a: reply.answers = ipv4Answers[match.familyIndex]
        case DNSRecordType.aaaa: reply.answers = ipv6Answers[match.familyIndex]
        default: break  // NODATA; the SOA for negative caching comes with the apex records.
        }
        return reply
    }
}
