import NIOCore
import SinkholeCore

/// One resource record the sinkhole writes (RFC 1035 §3.2.1, §4.1.3), always class IN.
///
/// The owner is never written out in full: it is a compression pointer (RFC 1035 §4.1.4) to
/// a name already in the message, which for the sinkhole is always the question name at
/// offset 12 or one of its suffixes (the seized apex). The owner therefore keeps the letter
/// case the bot used, and every record costs two bytes of owner.
public struct DNSRecord: Hashable, Sendable {
    /// The record data the sinkhole can send.
    public enum RData: Hashable, Sendable {
        /// An A record (IPv4) or an AAAA record (IPv6), by the address's family.
        case address(IPAddress)
        /// An NS record: the nameserver's name, written uncompressed.
        case nameserver(DNSName)
        /// An SOA record.
        case soa(DNSSOA)
    }

    /// The message offset of the owner name; below 0x4000, as a pointer can only say that.
    public var ownerOffset: UInt16
    public var ttl: UInt32
    public var data: RData

    public init(ownerOffset: UInt16 = UInt16(DNSHeader.length), ttl: UInt32, data: RData) {
        precondition(ownerOffset < 0x4000, "a compression pointer holds 14 bits")
        self.ownerOffset = ownerOffset
        self.ttl = ttl
        self.data = data
    }

    /// TYPE, from the data.
    public var type: UInt16 {
        switch data {
        case .address(let address): address.family == .v4 ? DNSRecordType.a : DNSRecordType.aaaa
        case .nameserver: DNSRecordType.ns
        case .soa: DNSRecordType.soa
        }
    }

    /// NAME pointer (2) + TYPE, CLASS (4) + TTL (4) + RDLENGTH (2).
    static let fixedLength = 12

    /// The RDATA's length.
    var dataLength: Int {
        switch data {
        case .address(let address): address.family == .v4 ? 4 : 16
        case .nameserver(let name): name.wire.count
        case .soa(let soa): soa.wireLength
        }
    }

    /// The whole record's length on the wire.
    public var wireLength: Int { Self.fixedLength + dataLength }

    /// Writes the record; the name at `ownerOffset` must already be in the message.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeDNS(exactly: wireLength) { write(to: &$0) }
    }

    func write(to writer: inout DNSWireWriter) {
        writer.put(0xC000 | ownerOffset)
        writer.put(type)
        writer.put(DNSClass.internet)
        writer.put(ttl)
        writer.put(UInt16(dataLength))
        switch data {
        case .address(let address):
            if address.family == .v4 {
                writer.put(UInt32(truncatingIfNeeded: address.low))
            } else {
                writer.put(address.high)
                writer.put(address.low)
            }
        case .nameserver(let name):
            writer.put(name.wire)
        case .soa(let soa):
            soa.write(to: &writer)
        }
    }
}

/// The RDATA of an SOA record (RFC 1035 §3.3.13). Names are written uncompressed: they are
/// the sinkhole's own names, not in the question, and at most two per response.
public struct DNSSOA: Hashable, Sendable {
    /// MNAME: the primary nameserver.
    public var primary: DNSName
    /// RNAME: the contact mailbox as a name.
    public var mailbox: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    /// MINIMUM: the negative-caching TTL (RFC 2308 §4).
    public var minimum: UInt32

    public init(
        primary: DNSName, mailbox: DNSName, serial: UInt32,
        refresh: UInt32, retry: UInt32, expire: UInt32, minimum: UInt32
    ) {
        self.primary = primary
        self.mailbox = mailbox
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }

    /// Reads the RDATA at the reader's cursor (names may be compressed).
    public init(reading reader: inout DNSWireReader) throws(DNSParseError) {
        primary = try reader.readName()
        mailbox = try reader.readName()
        serial = try reader.readUInt32()
        refresh = try reader.readUInt32()
        retry = try reader.readUInt32()
        expire = try reader.readUInt32()
        minimum = try reader.readUInt32()
    }

    /// The RDATA's length: two names and five 32-bit fields.
    public var wireLength: Int { primary.wire.count + mailbox.wire.count + 20 }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeDNS(exactly: wireLength) { write(to: &$0) }
    }

    func write(to writer: inout DNSWireWriter) {
        writer.put(primary.wire)
        writer.put(mailbox.wire)
        writer.put(serial)
        writer.put(refresh)
        writer.put(retry)
        writer.put(expire)
        writer.put(minimum)
    }
}
