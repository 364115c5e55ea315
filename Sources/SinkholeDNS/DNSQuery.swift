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
        name = try reader.readName()
        type = try reader.readUInt16()
        `class` = try reader.readUInt16()
    }

    /// Writes the question with the name uncompressed, so it sits at offset 12 of a response
    /// and answers can point at it.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeBytes(name.wire)
        buffer.writeMultipleIntegers(type, `class`, endianness: .big)
    }
}

/// A DNS query as the sinkhole reads it: the header and its one question.
///
/// Parsing is pure and total: any byte string gives one of the three `ParseResult` cases,
/// nothing traps. Sections after the question (an OPT record in the additional section, or
/// anything a bot puts there) are not read and do not make the query fail.
public struct DNSQuery: Hashable, Sendable {
    public var header: DNSHeader
    public var question: DNSQuestion

    public init(header: DNSHeader, question: DNSQuestion) {
        self.header = header
        self.question = question
    }

    /// What a packet turned out to be.
    public enum ParseResult: Hashable, Sendable {
        /// Not answerable at all: shorter than a header (`.truncatedHeader`) or a response
        /// (`.responseBit`). Send nothing.
        case noReply(DNSParseError)
        /// The header was read but the question was not (or QDCOUNT is not 1): answer
        /// FORMERR, echoing ID and OPCODE.
        case malformed(DNSHeader, DNSParseError)
        /// A header and exactly one readable question.
        case query(DNSQuery)
    }

    /// Parses the readable bytes of `message`.
    public static func parse(_ message: ByteBuffer) -> ParseResult {
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
        do {
            let question = try DNSQuestion(reading: &reader)
            return .query(DNSQuery(header: header, question: question))
        } catch {
            return .malformed(header, error)
        }
    }
}
