import NIOCore
import SinkholeCore

/// A response the sinkhole sends: header fields, the echoed question and A/AAAA answers.
///
/// Building is kept apart from parsing (as Knot and NSD do): the responder decides, this type
/// only writes bytes.
public struct DNSResponse: Sendable {
    /// RFC 1035 §4.2.1: without EDNS a UDP response is at most 512 octets.
    public static let udpSizeLimit = 512

    public var id: UInt16
    public var opcode: UInt8
    public var rcode: DNSRcode
    public var authoritative: Bool
    public var recursionDesired: Bool
    /// The question to echo, or nil when it could not be read.
    public var question: DNSQuestion?
    /// Answer addresses; each becomes an A (IPv4) or AAAA (IPv6) record owned by the question
    /// name. Empty with rcode NOERROR is NODATA.
    public var answers: [IPAddress]
    public var ttl: UInt32

    public init(
        id: UInt16, opcode: UInt8, rcode: DNSRcode,
        authoritative: Bool = false, recursionDesired: Bool = false,
        question: DNSQuestion? = nil, answers: [IPAddress] = [], ttl: UInt32 = 0
    ) {
        self.id = id
        self.opcode = opcode
        self.rcode = rcode
        self.authoritative = authoritative
        self.recursionDesired = recursionDesired
        self.question = question
        self.answers = answers
        self.ttl = ttl
    }

    /// Writes the response, keeping it within `sizeLimit` bytes where possible: answers that
    /// would not fit are left out and TC is set, so a resolver retries over TCP (RFC 2181 §9).
    /// The header and question always fit (at most 12 + 255 + 4 bytes).
    public func write(into buffer: inout ByteBuffer, sizeLimit: Int = DNSResponse.udpSizeLimit) {
        var size = DNSHeader.length + (question.map { $0.name.wire.count + 4 } ?? 0)
        var fitting = 0
        if question != nil {
            for address in answers {
                let recordSize = Self.recordFixedSize + (address.family == .v4 ? 4 : 16)
                guard size + recordSize <= sizeLimit else { break }
                size += recordSize
                fitting += 1
            }
        }
        var header = DNSHeader(id: id)
        header.isResponse = true
        header.opcode = opcode
        header.authoritativeAnswer = authoritative
        header.truncated = fitting < answers.count && question != nil
        header.recursionDesired = recursionDesired
        // RA stays clear: the sinkhole never recurses (RFC 1035 §4.1.1).
        header.recursionAvailable = false
        header.rcode = rcode.rawValue
        header.questionCount = question == nil ? 0 : 1
        header.answerCount = UInt16(fitting)
        buffer.reserveCapacity(minimumWritableBytes: size)
        header.write(into: &buffer)
        guard let question else { return }
        question.write(into: &buffer)
        for address in answers.prefix(fitting) {
            Self.writeRecord(address, ttl: ttl, into: &buffer)
        }
    }

    /// NAME pointer (2) + TYPE, CLASS (4) + TTL (4) + RDLENGTH (2).
    static let recordFixedSize = 12

    /// The question name always starts right after the header (RFC 1035 §4.1.4: pointer
    /// 0b11 followed by the 14-bit offset 12).
    static let pointerToQuestion: UInt16 = 0xC000 | UInt16(DNSHeader.length)

    private static func writeRecord(_ address: IPAddress, ttl: UInt32, into buffer: inout ByteBuffer) {
        switch address.family {
        case .v4:
            buffer.writeMultipleIntegers(
                pointerToQuestion, DNSRecordType.a, DNSClass.internet, ttl, UInt16(4),
                UInt32(truncatingIfNeeded: address.low),
                endianness: .big
            )
        case .v6:
            buffer.writeMultipleIntegers(
                pointerToQuestion, DNSRecordType.aaaa, DNSClass.internet, ttl, UInt16(16),
                address.high, address.low,
                endianness: .big
            )
        }
    }
}
