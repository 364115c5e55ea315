import NIOCore

/// The 12-byte header of a DNS message (RFC 1035 §4.1.1).
///
/// The flags are kept as the raw 16 bits, with accessors for each field, so a header read
/// from a bot's packet round-trips exactly (reserved bits included) when tests compare it.
public struct DNSHeader: Hashable, Sendable {
    /// The length of a header on the wire.
    public static let length = 12

    public var id: UInt16
    /// QR, OPCODE, AA, TC, RD, RA, Z, AD, CD and RCODE, as on the wire.
    public var flags: UInt16
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16

    public init(
        id: UInt16, flags: UInt16 = 0,
        questionCount: UInt16 = 0, answerCount: UInt16 = 0,
        authorityCount: UInt16 = 0, additionalCount: UInt16 = 0
    ) {
        self.id = id
        self.flags = flags
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    /// Reads a header at the reader's cursor.
    public init(reading reader: inout DNSWireReader) throws(DNSParseError) {
        guard reader.remaining >= Self.length else { throw .truncatedHeader }
        id = try reader.readUInt16()
        flags = try reader.readUInt16()
        questionCount = try reader.readUInt16()
        answerCount = try reader.readUInt16()
        authorityCount = try reader.readUInt16()
        additionalCount = try reader.readUInt16()
    }

    /// Writes the header in network order.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeDNS(exactly: Self.length) { write(to: &$0) }
    }

    func write(to writer: inout DNSWireWriter) {
        writer.put(id)
        writer.put(flags)
        writer.put(questionCount)
        writer.put(answerCount)
        writer.put(authorityCount)
        writer.put(additionalCount)
    }

    /// QR: set in responses.
    public var isResponse: Bool {
        get { flag(15) }
        set { setFlag(15, newValue) }
    }
    /// The 4-bit OPCODE (0 = QUERY).
    public var opcode: UInt8 {
        get { UInt8((flags >> 11) & 0xF) }
        set { flags = flags & ~(0xF << 11) | UInt16(newValue & 0xF) << 11 }
    }
    /// AA: the answer comes from an authority for the name.
    public var authoritativeAnswer: Bool {
        get { flag(10) }
        set { setFlag(10, newValue) }
    }
    /// TC: the message was truncated to fit the transport.
    public var truncated: Bool {
        get { flag(9) }
        set { setFlag(9, newValue) }
    }
    /// RD: the client asked for recursion (copied into the response, RFC 1035 §4.1.1).
    public var recursionDesired: Bool {
        get { flag(8) }
        set { setFlag(8, newValue) }
    }
    /// RA: the server offers recursion. The sinkhole never does.
    public var recursionAvailable: Bool {
        get { flag(7) }
        set { setFlag(7, newValue) }
    }
    /// The 4-bit RCODE.
    public var rcode: UInt8 {
        get { UInt8(flags & 0xF) }
        set { flags = flags & ~0xF | UInt16(newValue & 0xF) }
    }

    private func flag(_ bit: UInt16) -> Bool { flags & (1 << bit) != 0 }
    private mutating func setFlag(_ bit: UInt16, _ on: Bool) {
        flags = on ? flags | (1 << bit) : flags & ~(1 << bit)
    }
}

/// The OPCODEs the sinkhole names (RFC 1035 §4.1.1, IANA DNS parameters).
public enum DNSOpcode {
    public static let query: UInt8 = 0
    public static let notify: UInt8 = 4
    public static let update: UInt8 = 5
}

/// The response codes the sinkhole sends (RFC 1035 §4.1.1, RFC 6891 §6.1.3). `CheckIn.dnsRcode`
/// holds the raw value, extended codes included.
///
/// Codes above 15 only exist with EDNS: the low 4 bits go in the header's RCODE, the upper 8
/// in the OPT record's EXTENDED-RCODE (RFC 6891 §6.1.3).
public enum DNSRcode: UInt8, Sendable, CaseIterable {
    case noError = 0
    case formErr = 1
    case servFail = 2
    case nxDomain = 3
    case notImp = 4
    case refused = 5
    /// BADVERS: the query's EDNS version is one the server does not implement (RFC 6891
    /// §6.1.3). Header RCODE 0, OPT EXTENDED-RCODE 1.
    case badVers = 16

    /// The 4 bits that go in the header's RCODE field.
    public var headerBits: UInt8 { rawValue & 0xF }
    /// The 8 bits that go in an OPT record's EXTENDED-RCODE field.
    public var extendedBits: UInt8 { rawValue >> 4 }

    /// The mnemonic of RFC 1035 §4.1.1 and RFC 6891 (dig's and the IANA registry's spelling).
    public var name: String {
        switch self {
        case .noError: "NOERROR"
        case .formErr: "FORMERR"
        case .servFail: "SERVFAIL"
        case .nxDomain: "NXDOMAIN"
        case .notImp: "NOTIMP"
        case .refused: "REFUSED"
        case .badVers: "BADVERS"
        }
    }
}

/// Record types and classes the sinkhole answers or names.
public enum DNSRecordType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let soa: UInt16 = 6
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
    /// Incremental zone transfer (RFC 1995).
    public static let ixfr: UInt16 = 251
    /// Full zone transfer (RFC 5936).
    public static let axfr: UInt16 = 252
    public static let any: UInt16 = 255
}

public enum DNSClass {
    /// IN: the only class the sinkhole holds data for.
    public static let internet: UInt16 = 1
}
