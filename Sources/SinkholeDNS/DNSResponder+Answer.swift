import SinkholeCore

extension DNSResponder {
    /// The response to a query whose question and records were read.
    ///
    /// For a seized name (class IN, OPCODE QUERY, EDNS version 0 or none) the answer is
    /// authoritative NOERROR:
    /// - A / AAAA: the family's addresses of that family (RFC 1035 §3.4.1, RFC 3596);
    /// - SOA / NS at the seized apex: the sinkhole's SOA / NS RRset (RFC 1035 §6.1);
    /// - ANY: one RRset, not all of them (RFC 8482 §4.2): the A records, else the AAAA
    ///   records, else at the apex the SOA. The addresses rather than a synthesized HINFO,
    ///   because a bot asking ANY wants something to connect to and the sinkhole wants its
    ///   connection; the A RRset also fits 512 bytes for any realistic family;
    /// - anything else, including SOA / NS below the apex and an address type the family has
    ///   none of: NODATA with the apex SOA in the authority section, its TTL
    ///   min(SOA TTL, MINIMUM), so resolvers can cache the negative answer (RFC 2308 §2.2, §3).
    func answer(_ query: DNSQuery, checkIn: inout CheckIn) -> (DNSResponse, SeizedZones.Match?) {
        let question = query.question
        let match = label(question, checkIn: &checkIn)
        var reply = DNSResponse(
            id: query.header.id, opcode: query.header.opcode, rcode: .refused,
            recursionDesired: query.header.recursionDesired, question: question
        )
        if let edns = query.edns {
            // RFC 6891 §7: an OPT in every reply to an EDNS query; RFC 3225 §3: the DO bit
            // of the query is copied into the response (the sinkhole signs nothing, so it
            // changes no content). No options: none the client could send is supported.
            reply.edns = EDNSRecord(dnssecOK: edns.dnssecOK)
            // RFC 6891 §6.1.3: a version the server does not implement gets BADVERS and
            // nothing else, with the OPT saying which version the server does speak (0).
            guard edns.version == 0 else {
                reply.rcode = .badVers
                return (reply, match)
            }
        }
        guard query.header.opcode == DNSOpcode.query else {
            reply.rcode = .notImp
            return (reply, match)
        }
        // Zone transfers (RFC 5936, RFC 1995) are refused: there is no zone file behind a
        // seized name, and the seized list is not for whoever asks.
        guard question.type != DNSRecordType.axfr, question.type != DNSRecordType.ixfr else {
            return (reply, match)
        }
        // Only class IN holds seized data; CHAOS `version.bind` and the like are refused.
        guard question.class == DNSClass.internet, let match else { return (reply, match) }
        reply.rcode = .noError
        reply.authoritative = true
        // The question name without its root label against the seized apex's length: equal
        // means the question is the apex itself.
        let belowApex = question.name.wire.count - 1 - match.apexWireLength
        let isApex = belowApex == 0
        let family = match.familyIndex
        switch question.type {
        case DNSRecordType.a:
            reply.answers = ipv4Answers[family]
        case DNSRecordType.aaaa:
            reply.answers = ipv6Answers[family]
        case DNSRecordType.any:
            if !ipv4Answers[family].isEmpty {
                reply.answers = ipv4Answers[family]
            } else if !ipv6Answers[family].isEmpty {
                reply.answers = ipv6Answers[family]
            } else if isApex {
                reply.answers = apexSOA
            }
        case DNSRecordType.soa where isApex:
            reply.answers = apexSOA
        case DNSRecordType.ns where isApex:
            reply.answers = apexNS
        default:
            break
        }
        if reply.answers.isEmpty {
            // The apex is the question name's suffix, which starts `belowApex` bytes into the
            // question name at offset 12: the SOA's owner points there, keeping the bot's
            // letter case (a name is at most 255 bytes, so the offset fits a pointer).
            reply.authority = DNSRecord(
                ownerOffset: UInt16(DNSHeader.length + belowApex), ttl: negativeTTL, data: .soa(soa)
            )
        }
        return (reply, match)
    }
}
