import NIOCore
import SinkholeCore

/// Answers DNS queries for seized names as their authority, and fills the DNS part of the
/// `CheckIn` for every query.
///
/// Pure: bytes in, bytes and event fields out. It does not know the time, the addresses or
/// the ports; the caller (a channel handler, the capture replay) sets those.
///
/// Policy, in order:
/// - shorter than a header, or QR set: send nothing (`dnsRcode = CheckIn.noResponse`);
/// - question unreadable, or QDCOUNT not 1: FORMERR (RFC 9619 §3), ID, OPCODE and RD echoed
///   (NOTIMP instead for an OPCODE other than QUERY);
/// - records after the question unreadable (a lying count), or a broken OPT (two of them, one
///   outside the additional section, one not owned by the root): FORMERR (RFC 6891 §6.1.1),
///   question echoed and logged;
/// - EDNS version above 0: BADVERS (RFC 6891 §6.1.3), with an OPT of version 0;
/// - OPCODE other than QUERY: NOTIMP (RFC 1035 §4.1.1), question echoed;
/// - AXFR or IXFR: REFUSED. There is no zone to transfer, and a list of seized names is not
///   something to hand to whoever asks;
/// - QCLASS other than IN, or a name under no seized name: REFUSED. The sinkhole is not a
///   resolver and must not claim such names do not exist: an NXDOMAIN would deny the whole
///   subtree (RFC 8020) in a shared resolver's cache;
/// - a seized name: authoritative NOERROR, never NXDOMAIN (RFC 8020: every name under a
///   seized apex exists, so bots keep resolving), answered by `answer(…)` (see there).
///
/// Every reply to a query with a valid OPT carries an OPT (RFC 6891 §7), and a UDP reply is
/// bounded by the query's advertised payload size (see `EDNSRecord.responseSizeLimit`).
public struct DNSResponder: Sendable {
    /// How the reply leaves, which sets its size limit.
    public enum Transport: Sendable, Hashable {
        /// 512 bytes, or with EDNS the query's payload size within 512…1232; a reply that
        /// does not fit is truncated with TC set.
        case udp
        /// 65535 bytes (RFC 1035 §4.2.2), whatever the query advertised: nothing is
        /// truncated in practice.
        case tcp
    }

    public let zones: SeizedZones
    public let ttl: UInt32
    public let authority: DNSAuthority
    // Records built once here, not per query: per family the answers split by type, and the
    // apex NS and SOA RRsets (all owned by the question name at offset 12).
    let ipv4Answers: [[DNSRecord]]
    let ipv6Answers: [[DNSRecord]]
    let apexNS: [DNSRecord]
    let apexSOA: [DNSRecord]
    /// The SOA RDATA and the TTL it carries in a negative answer: min(SOA TTL, MINIMUM)
    /// (RFC 2308 §3).
    let soa: DNSSOA
    let negativeTTL: UInt32
    /// Each family's name as a check-in carries it, built once rather than per query.
    let familyLabels: [BoundedBytes<32>]

    /// - Parameters:
    ///   - ttl: the TTL of every positive answer, and of the SOA when asked for.
    ///   - authority: the NS names and SOA fields for every seized apex; the default names
    ///     `DNSAuthority.defaultNameserver` with serial 0.
    public init(zones: SeizedZones, ttl: UInt32, authority: DNSAuthority = DNSAuthority()) {
        self.zones = zones
        self.ttl = ttl
        self.authority = authority
        func records(_ family: IPAddress.Family) -> [[DNSRecord]] {
            zones.families.map { f in
                f.answers.filter { $0.family == family }.map { DNSRecord(ttl: ttl, data: .address($0)) }
            }
        }
        ipv4Answers = records(.v4)
        ipv6Answers = records(.v6)
        soa = authority.soa(answerTTL: ttl)
        negativeTTL = min(ttl, soa.minimum)
        apexNS = authority.nameservers.map { DNSRecord(ttl: ttl, data: .nameserver($0)) }
        apexSOA = [DNSRecord(ttl: ttl, data: .soa(soa))]
        familyLabels = zones.families.map { BoundedBytes($0.name) }
    }

    /// Writes the response to `request` into `response` and fills `checkIn.name`, `.dnsType`,
    /// `.dnsRcode` (extended codes included: 16 for BADVERS) and `.family`. Returns false when
    /// nothing must be sent (and writes nothing).
    public func respond(
        to request: ByteBuffer, into response: inout ByteBuffer, checkIn: inout CheckIn,
        transport: Transport = .udp
    ) -> Bool {
        var nameStorage: [UInt8] = []
        guard let decided = decide(request, checkIn: &checkIn, nameStorage: &nameStorage) else { return false }
        let limit = switch transport {
        case .udp: decided.udpLimit
        case .tcp: DNSResponse.tcpSizeLimit
        }
        decided.reply.write(into: &response, sizeLimit: limit)
        return true
    }

    /// `respond` for UDP with response rate limiting (BIND's RRL): the reply goes out, goes
    /// out truncated (a slip: TC set, no answer or authority, so a real resolver retries over
    /// TCP, which is never limited), or is dropped, as `limiter` decides for the client's
    /// account; `checkIn.rateLimited` says it was limited. The check-in is filled either way:
    /// a limited query is still logged.
    ///
    /// Accounts (RFC-less, after BIND): answers and NODATA under a seized name count against
    /// the seized name, so a flood of random subdomains is one account, as BIND accounts a
    /// wildcard's answers to the wildcard; REFUSED and errors count per client prefix alone, as
    /// BIND's errors-per-second, since their names are whatever the flooder chose.
    public func respond(
        to request: ByteBuffer, into response: inout ByteBuffer, checkIn: inout CheckIn,
        limiter: inout ResponseRateLimiter
    ) -> Bool {
        var nameStorage: [UInt8] = []
        return respond(to: request, into: &response, checkIn: &checkIn, limiter: &limiter, nameStorage: &nameStorage)
    }

    /// `respond(…limiter:)` reading the question name into `nameStorage`, which
    /// `DNSUDPExchange` keeps across datagrams so that a query allocates nothing.
    func respond(
        to request: ByteBuffer, into response: inout ByteBuffer, checkIn: inout CheckIn,
        limiter: inout ResponseRateLimiter, nameStorage: inout [UInt8]
    ) -> Bool {
        guard let decided = decide(request, checkIn: &checkIn, nameStorage: &nameStorage) else { return false }
        var limit = decided.udpLimit
        if limiter.isEnabled {
            let kind: ResponseRateLimiter.Kind = switch decided.reply.rcode {
            case .noError: decided.reply.answers.isEmpty ? .nodata : .answer
            case .refused: .refused
            default: .error
            }
            let verdict = switch kind {
            case .answer, .nodata:
                limiter.verdict(client: checkIn.source, kind: kind, name: decided.apex ?? [], now: checkIn.time)
            case .refused, .error:
                limiter.verdict(client: checkIn.source, kind: kind, name: EmptyCollection(), now: checkIn.time)
            }
            switch verdict {
            case .send:
                break
            case .slip:
                checkIn.rateLimited = true
                // Header, question and OPT always fit; nothing else does, so TC is set.
                limit = 0
            case .drop:
                checkIn.rateLimited = true
                return false
            }
        }
        decided.reply.write(into: &response, sizeLimit: limit)
        return true
    }

    /// The reply to `request`, the UDP size limit its EDNS asked for, and the seized apex its
    /// name fell under (lowercase wire); nil when nothing must be sent. Fills the check-in.
    /// The question name is read into `nameStorage` (see `DNSQuery.parse(_:nameStorage:)`).
    func decide(_ request: ByteBuffer, checkIn: inout CheckIn, nameStorage: inout [UInt8])
        -> (reply: DNSResponse, udpLimit: Int, apex: ArraySlice<UInt8>?)? {
        checkIn.name = BoundedBytes()
        checkIn.family = BoundedBytes()
        checkIn.dnsType = 0
        checkIn.rateLimited = false
        let reply: DNSResponse
        var udpLimit = DNSResponse.udpSizeLimit
        var match: SeizedZones.Match? = nil
        switch DNSQuery.parse(request, nameStorage: &nameStorage) {
        case .noReply:
            checkIn.dnsRcode = CheckIn.noResponse
            return nil
        case .malformed(let header, _):
            reply = DNSResponse(
                id: header.id, opcode: header.opcode, rcode: Self.malformedRcode(header),
                recursionDesired: header.recursionDesired
            )
        case .malformedRecords(let query, _):
            // No OPT in the reply: the query's EDNS is what could not be trusted.
            match = label(query.question, checkIn: &checkIn)
            reply = DNSResponse(
                id: query.header.id, opcode: query.header.opcode, rcode: Self.malformedRcode(query.header),
                recursionDesired: query.header.recursionDesired, question: query.question
            )
        case .query(let query):
            if let edns = query.edns { udpLimit = edns.responseSizeLimit }
            (reply, match) = answer(query, checkIn: &checkIn)
        }
        checkIn.dnsRcode = reply.rcode.rawValue
        return (reply, udpLimit, match?.apexWire)
    }

    /// FORMERR for a QUERY, NOTIMP for an OPCODE the sinkhole does not implement at all.
    static func malformedRcode(_ header: DNSHeader) -> DNSRcode {
        header.opcode == DNSOpcode.query ? .formErr : .notImp
    }

    /// Fills the check-in's name, type and family from the question; returns the seized name
    /// it falls under. The family labels the check-in whatever the answer: a bot that named
    /// a seized domain is evidence even when its query was one we refuse.
    func label(_ question: DNSQuestion, checkIn: inout CheckIn) -> SeizedZones.Match? {
        question.name.forEachPresentationByte { checkIn.name.append($0) }
        checkIn.dnsType = question.type
        let match = zones.match(question.name)
        if let match { checkIn.family = familyLabels[match.familyIndex] }
        return match
    }
}
