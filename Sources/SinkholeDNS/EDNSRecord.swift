import NIOCore

/// The fields of an OPT pseudo-record (EDNS(0), RFC 6891 §6.1.2–6.1.3), as read from a query
/// or to be written in a response.
///
/// An OPT record reuses the fixed record fields: CLASS is the sender's UDP payload size, TTL
/// packs EXTENDED-RCODE, VERSION and the flags (DO and the reserved Z bits). The RDATA holds
/// options; the sinkhole understands none of them, so a query's options are checked for shape
/// and then ignored (RFC 6891 §6.1.2: "any OPTION-CODE values not understood by a responder
/// or requestor MUST be ignored"), and a response carries none.
public struct EDNSRecord: Hashable, Sendable {
    /// The payload size the sinkhole advertises and the most it sends over UDP: 1232, the DNS
    /// Flag Day 2020 value (an IPv6 minimum MTU of 1280 less 48 bytes of IPv6 and UDP headers),
    /// so a reply is never fragmented. Fragments are what spoofing attacks on UDP DNS ride on,
    /// and a sinkhole has no large answers that would need more.
    public static let serverPayloadSize: UInt16 = 1232

    /// RFC 6891 §6.2.5: a payload size under 512 is treated as 512.
    public static let minimumPayloadSize: UInt16 = 512

    /// The length of an OPT record without options on the wire: root owner (1), TYPE, CLASS
    /// (4), TTL (4), RDLENGTH (2).
    public static let wireLength = 11

    /// CLASS: the largest UDP payload the sender can reassemble.
    public var udpPayloadSize: UInt16
    /// The upper 8 bits of the 12-bit RCODE (RFC 6891 §6.1.3).
    public var extendedRcode: UInt8
    /// The EDNS version; the sinkhole implements 0 only.
    public var version: UInt8
    /// The DO bit (RFC 3225 §3): the sender accepts DNSSEC records.
    public var dnssecOK: Bool
    /// The 15 flag bits after DO, reserved (RFC 6891 §6.1.4: sent as zero, ignored on receipt).
    public var reservedFlags: UInt16

    public init(
        udpPayloadSize: UInt16 = EDNSRecord.serverPayloadSize, extendedRcode: UInt8 = 0,
        version: UInt8 = 0, dnssecOK: Bool = false, reservedFlags: UInt16 = 0
    ) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRcode = extendedRcode
        self.version = version
        self.dnssecOK = dnssecOK
        self.reservedFlags = reservedFlags & 0x7FFF
    }

    /// Reinterprets an OPT record's CLASS and TTL fields (RFC 6891 §6.1.3).
    public init(class: UInt16, ttl: UInt32) {
        self.init(
            udpPayloadSize: `class`, extendedRcode: UInt8(ttl >> 24),
            version: UInt8(truncatingIfNeeded: ttl >> 16), dnssecOK: ttl & 0x8000 != 0,
            reservedFlags: UInt16(truncatingIfNeeded: ttl) & 0x7FFF
        )
    }

    /// The TTL field: EXTENDED-RCODE, VERSION, DO and Z.
    public var ttlField: UInt32 {
        UInt32(extendedRcode) << 24 | UInt32(version) << 16 | (dnssecOK ? 0x8000 : 0) | UInt32(reservedFlags & 0x7FFF)
    }

    /// Reads CLASS, TTL, RDLENGTH and RDATA of an OPT record whose owner and TYPE have been
    /// read. Options are walked only to check that each fits the RDATA; their content is
    /// ignored.
    init(readingAfterType reader: inout DNSWireReader) throws(DNSParseError) {
        let payload = try reader.readUInt16()
        let ttl = try reader.readUInt32()
        let length = Int(try reader.readUInt16())
        guard length <= reader.remaining else { throw .truncated }
        var left = length
        while left > 0 {
            // OPTION-CODE and OPTION-LENGTH, then OPTION-LENGTH bytes (RFC 6891 §6.1.2).
            guard left >= 4 else { throw .malformedOption }
            _ = try reader.readUInt16()
            let optionLength = Int(try reader.readUInt16())
            guard optionLength <= left - 4 else { throw .malformedOption }
            try reader.skip(optionLength)
            left -= 4 + optionLength
        }
        self.init(class: payload, ttl: ttl)
    }

    /// The most a UDP response to a query with this OPT may hold: the sender's size, but at
    /// least 512 (RFC 6891 §6.2.5) and at most what the sinkhole itself advertises
    /// (§6.2.4 lets a responder pick the smaller of the two).
    public var responseSizeLimit: Int {
        Int(min(max(udpPayloadSize, Self.minimumPayloadSize), Self.serverPayloadSize))
    }

    /// Writes the whole record, root owner and no options.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeDNS(exactly: Self.wireLength) { write(to: &$0) }
    }

    func write(to writer: inout DNSWireWriter) {
        writer.put(UInt8(0))
        writer.put(DNSRecordType.opt)
        writer.put(udpPayloadSize)
        writer.put(ttlField)
        writer.put(UInt16(0))
    }
}
