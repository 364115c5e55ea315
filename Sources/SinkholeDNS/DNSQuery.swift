import NIOCore

/// The question of a query (RFC 1035 §4.1.2).
public struct DNSQuestion: Hashable, Sendable {
    /// QNAME, letter case as received.
    public var name: DNSName
    /// QTYPE.
    public var type: UInt16
    /// QCLASS.
    public var `class`: UInt16

    public init(name: DNSName, type: UInt16, class: UInt16 = DNSClass.internet) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    /// Reads QNAME, QTYPE and QCLASS at the reader's cursor.
    public init(reading reader: inout DNSWireReader) throws(DNSParseError) {
        var storage: [UInt8] = []
        try self.init(reading: &reader, nameStorage: &storage)
    }

    /// Reads the question with QNAME built in `nameStorage` (see
    /// `DNSWireReader.readName(reusing:)`: no allocation once the previous name is released).
    init(reading reader: inout DNSWireReader, nameStorage: inout [UInt8]) throws(DNSParseError) {
        name = try reader.readName(reusing: &nameStorage)
        type = try reader.readUInt16()
        `class` = try reader.readUInt16()
    }

    /// Writes the question with the name uncompressed, so it sits at offset 12 of a response
    /// and answers can point at it.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeDNS(exactly: wireLength) { write(to: &$0) }
    }

    /// QNAME, QTYPE and QCLASS.
    var wireLength: Int { name.wire.count + 4 }

    func write(to writer: inout DNSWireWriter) {
        writer.put(name.wire)
        writer.put(type)
        writer.put(`class`)
    }
}

/// A DNS query as the sinkhole reads it: the header, its one question and its EDNS record.
///
/// Parsing is pure and total: any byte string gives one of the `ParseResult` cases, nothing
/// traps. After the question every record the header counts is read (owner, fixed fields,
/// RDATA within the message) to find the OPT record (RFC 6891); the records themselves are
/// not kept. Bytes after the last counted record are ignored.
public struct DNSQuery: Hashable, Sendable {
    public var header: DNSHeader
    public var question: DNSQuestion
    /// The query's OPT record, nil when it sent none (no EDNS).
    public var edns: EDNSRecord?

    public init(header: DNSHeader, question: DNSQuestion, edns: EDNSRecord? = nil) {
        self.header = header
        self.question = question
        self.edns = edns
    }

    /// What a packet turned out to be.
    public enum ParseResult: Hashable, Sendable {
        /// Not answerable at all: shorter than a header (`.truncatedHeader`) or a response
        /// (`.responseBit`). Send nothing.
        case noReply(DNSParseError)
        /// The header was read but the question was not (or QDCOUNT is not 1): answer
        /// FORMERR, echoing ID and OPCODE.
        case malformed(DNSHeader, DNSParseError)
        /// The header and question were read, but the records after them were not: a count
        /// claims more records than the message holds, or an OPT record breaks RFC 6891
        /// §6.1.1–6.1.2. Answer FORMERR with the question echoed (the query is still logged
        /// with its name). `edns` is nil.
        case malformedRecords(DNSQuery, DNSParseError)
        /// A header, exactly one readable question, and readable records after it.
        case query(DNSQuery)
    }

    /// Parses the readable bytes of `message`.
    public static func parse(_ message: ByteBuffer) -> ParseResult {
        var storage: [UInt8] = []
        return parse(message, nameStorage: &storage)
    }

    /// `parse`, with the question name built in `nameStorage`, which a caller parsing one
    /// datagram after another keeps across calls so that parsing allocates nothing
    /// (`DNSUDPExchange`, the capture engine's `PacketCheckIns`; see
    /// `DNSWireReader.readName(reusing:)`).
    public static func parse(_ message: ByteBuffer, nameStorage: inout [UInt8]) -> ParseResult {
        var reader = DNSWireReader(message: message)
        let header: DNSHeader
        do {
            header = try DNSHeader(reading: &reader)
        } catch {
            return .noReply(error)
        }
        // RFC 1035 §4.1.1: QR = 1 is a response; answering it invites reflection loops.
        if header.isResponse { return .noReply(.responseBit) }
        // RFC 9619 §3: exactly one question; 0 or several is FORMERR.
        switch header.questionCount {
        case 0: return .malformed(header, .noQuestion)
        case 1: break
        default: return .malformed(header, .multipleQuestions)
        }
        let question: DNSQuestion
        do {
            question = try DNSQuestion(reading: &reader, nameStorage: &nameStorage)
        } catch {
            return .malformed(header, error)
        }
        var query = DNSQuery(header: header, question: question)
        do {
            query.edns = try Self.readRecords(&reader, header: header)
        } catch {
            return .malformedRecords(query, error)
        }
        return .query(query)
    }
}

extension DNSQuery {
    /// The sections after the question, in message order (RFC 1035 §4.1).
    private enum Section: CaseIterable {
        case answer, authority, additional
    }

    /// Reads every record the header counts in the answer, authority and additional sections
    /// and returns the OPT record, if any.
    ///
    /// Throws when a count claims more records than the message holds (`.truncated` and the
    /// name errors), and on the OPT rules of RFC 6891 §6.1.1–6.1.2: at most one OPT, only in
    /// the additional section, owned by the root. Other records are skipped unread: a query
    /// has no business carrying them, but a NOTIFY or UPDATE may, and they change nothing here.
    static func readRecords(_ reader: inout DNSWireReader, header: DNSHeader) throws(DNSParseError) -> EDNSRecord? {
        var edns: EDNSRecord? = nil
        for section in Section.allCases {
            let count = switch section {
            case .answer: header.answerCount
            case .authority: header.authorityCount
            case .additional: header.additionalCount
            }
            for _ in 0..<count {
                let ownerIsRoot = try readOwner(&reader)
                let type = try reader.readUInt16()
                if type == DNSRecordType.opt {
                    guard section == .additional else { throw .optOutsideAdditional }
                    guard ownerIsRoot else { throw .optOwnerNotRoot }
                    guard edns == nil else { throw .multipleOPT }
                    edns = try EDNSRecord(readingAfterType: &reader)
                } else {
                    // CLASS (2) and TTL (4), then RDLENGTH and the RDATA it counts.
                    try reader.skip(6)
                    try reader.skip(Int(try reader.readUInt16()))
                }
            }
        }
        return edns
    }

    /// Reads a record's owner name and says whether it is the root. The root owner of a plain
    /// OPT record is one zero byte and is read without building a `DNSName` (no allocation
    /// on the common path); any other owner goes through the full name decoder.
    private static func readOwner(_ reader: inout DNSWireReader) throws(DNSParseError) -> Bool {
        if reader.byte(at: reader.offset) == 0 {
            try reader.skip(1)
            return true
        }
        return try reader.readName().isRoot
    }
}
