import NIOCore
import SinkholeCore

/// A response the sinkhole sends: header fields, the echoed question, one answer RRset, the
/// SOA of a negative answer, and the OPT record of an EDNS reply.
///
/// Building is kept apart from parsing (as Knot and NSD do): the responder decides, this type
/// only writes bytes and fits them to the size limit.
public struct DNSResponse: Sendable {
    /// RFC 1035 §4.2.1: without EDNS a UDP response is at most 512 octets.
    public static let udpSizeLimit = 512
    /// RFC 1035 §4.2.2: over TCP the two-byte length prefix bounds a message to 65535 octets.
    public static let tcpSizeLimit = 65_535

    public var id: UInt16
    public var opcode: UInt8
    /// The full response code; an extended one (above 15) needs `edns` to be sent.
    public var rcode: DNSRcode
    public var authoritative: Bool
    public var recursionDesired: Bool
    /// The question to echo, or nil when it could not be read.
    public var question: DNSQuestion?
    /// The answer section: one RRset, owned by the question name. Empty with rcode NOERROR
    /// is NODATA.
    public var answers: [DNSRecord]
    /// The authority section: the zone's SOA in a negative answer (RFC 2308 §2.2), or nil.
    public var authority: DNSRecord?
    /// The OPT record to send (RFC 6891 §7: only to a query that had one), or nil. Its
    /// EXTENDED-RCODE is set from `rcode` when written.
    public var edns: EDNSRecord?

    public init(
        id: UInt16, opcode: UInt8, rcode: DNSRcode,
        authoritative: Bool = false, recursionDesired: Bool = false,
        question: DNSQuestion? = nil, answers: [DNSRecord] = [], authority: DNSRecord? = nil,
        edns: EDNSRecord? = nil
    ) {
        self.id = id
        self.opcode = opcode
        self.rcode = rcode
        self.authoritative = authoritative
        self.recursionDesired = recursionDesired
        self.question = question
        self.answers = answers
        self.authority = authority
        self.edns = edns
    }

    /// Writes the response within `sizeLimit` bytes.
    ///
    /// The header, question and OPT always go in (at most 12 + 259 + 11 bytes, under 512).
    /// The answer RRset goes in whole or not at all, then the authority SOA likewise; when
    /// either is left out TC is set, so the resolver retries over TCP (RFC 2181 §9, RFC 6891
    /// §7). A partial RRset is never sent: RFC 2181 §9 allows one but resolvers must ignore
    /// it, and NSD rolls back to the last whole RRset the same way.
    public func write(into buffer: inout ByteBuffer, sizeLimit: Int = DNSResponse.udpSizeLimit) {
        var size = DNSHeader.length + (question.map { $0.name.wire.count + 4 } ?? 0)
            + (edns == nil ? 0 : EDNSRecord.wireLength)
        var answerCount = 0
        var authorityCount = 0
        // A limit below what always goes in (a rate-limit slip asks for 0) truncates too, even
        // a reply with no question whose records could be left out.
        var truncated = size > sizeLimit
        if question != nil {
            let answersLength = answers.reduce(0) { $0 + $1.wireLength }
            if size + answersLength <= sizeLimit {
                size += answersLength
                answerCount = answers.count
                if let authority {
                    if size + authority.wireLength <= sizeLimit {
                        size += authority.wireLength
                        authorityCount = 1
                    } else {
                        truncated = true
                    }
                }
            } else {
                truncated = true
            }
        }
        var header = DNSHeader(id: id)
        header.isResponse = true
        header.opcode = opcode
        header.authoritativeAnswer = authoritative
        header.truncated = truncated
        header.recursionDesired = recursionDesired
        // RA stays clear: the sinkhole never recurses (RFC 1035 §4.1.1).
        header.recursionAvailable = false
        header.rcode = rcode.headerBits
        header.questionCount = question == nil ? 0 : 1
        header.answerCount = UInt16(answerCount)
        header.authorityCount = UInt16(authorityCount)
        header.additionalCount = edns == nil ? 0 : 1
        buffer.writeDNS(exactly: size) { writer in
            header.write(to: &writer)
            if let question {
                question.write(to: &writer)
                for record in answers.prefix(answerCount) { record.write(to: &writer) }
                if authorityCount == 1, let authority { authority.write(to: &writer) }
            }
            if var edns {
                // RFC 6891 §6.1.3: the upper 8 bits of the RCODE travel in the OPT.
                edns.extendedRcode = rcode.extendedBits
                edns.write(to: &writer)
            }
        }
    }
}
