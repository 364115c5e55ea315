// Also compiled into the DNS fuzzer (Fuzz/Sources/sinkhole-dns-fuzzer links this file), which
// builds SinkholeDNS as a module of its own: public API only here, and no `import Testing`.
import NIOCore
import SinkholeCore
import SinkholeDNS

/// Builds query bytes by hand, so tests say exactly what is on the wire.
enum WireQuery {
    /// A header: flags default to a plain recursive QUERY (RD set), as a stub resolver sends.
    static func header(
        id: UInt16 = 0xBEEF, flags: UInt16 = 0x0100,
        qd: UInt16 = 1, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0
    ) -> [UInt8] {
        [id, flags, qd, an, ns, ar].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// Labels as length-prefixed bytes plus the root label.
    static func name(_ text: String) -> [UInt8] {
        if text == "." { return [0] }
        return text.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    /// A complete one-question query.
    static func make(
        _ qname: String, type: UInt16 = DNSRecordType.a, class qclass: UInt16 = 1,
        id: UInt16 = 0xBEEF, flags: UInt16 = 0x0100
    ) -> [UInt8] {
        header(id: id, flags: flags) + name(qname) + u16(type) + u16(qclass)
    }

    /// An OPT pseudo-record (RFC 6891) for the additional section: root owner, 1232 bytes.
    static let opt: [UInt8] = [0] + u16(41) + u16(1232) + [0, 0, 0, 0] + u16(0)

    /// An OPT record with chosen fields; `options` is the raw RDATA.
    static func opt(
        size: UInt16 = 1232, extendedRcode: UInt8 = 0, version: UInt8 = 0, flags: UInt16 = 0,
        options: [UInt8] = [], owner: [UInt8] = [0]
    ) -> [UInt8] {
        owner + u16(41) + u16(size) + [extendedRcode, version] + u16(flags) + u16(UInt16(options.count)) + options
    }

    /// A one-question query with an OPT record in the additional section (ARCOUNT 1).
    static func withEDNS(
        _ qname: String, type: UInt16 = DNSRecordType.a, id: UInt16 = 0xBEEF, opt: [UInt8] = WireQuery.opt
    ) -> [UInt8] {
        header(id: id, ar: 1) + name(qname) + u16(type) + u16(1) + opt
    }
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

/// A response decoded with the production reader (the header, question and names), plus the
/// records of all three sections this test-side decoder reads itself.
struct DecodedResponse {
    struct Record: Equatable {
        var rawOwner: [UInt8]
        var name: DNSName
        var type: UInt16
        var `class`: UInt16
        var ttl: UInt32
        var rdata: [UInt8]
        /// Where the RDATA starts in the message, so compressed names in it can be read.
        var rdataOffset: Int
    }

    var header: DNSHeader
    var question: DNSQuestion?
    var answers: [Record] = []
    var authority: [Record] = []
    var additional: [Record] = []
    var byteCount: Int
    private let message: ByteBuffer

    init(_ response: ByteBuffer) throws {
        message = response
        var reader = DNSWireReader(message: response)
        byteCount = response.readableBytes
        header = try DNSHeader(reading: &reader)
        if header.questionCount == 1 { question = try DNSQuestion(reading: &reader) }
        answers = try Self.records(header.answerCount, &reader)
        authority = try Self.records(header.authorityCount, &reader)
        additional = try Self.records(header.additionalCount, &reader)
        guard reader.remaining == 0 else { throw DNSParseError.truncated }
    }

    static func records(_ count: UInt16, _ reader: inout DNSWireReader) throws -> [Record] {
        var records: [Record] = []
        for _ in 0..<count {
            let start = reader.offset
            let name = try reader.readName()
            let raw = (start..<reader.offset).compactMap { reader.byte(at: $0) }
            let type = try reader.readUInt16()
            let qclass = try reader.readUInt16()
            let ttl = try reader.readUInt32()
            let length = Int(try reader.readUInt16())
            let rdataStart = reader.offset
            try reader.skip(length)
            let rdata = (rdataStart..<reader.offset).compactMap { reader.byte(at: $0) }
            records.append(Record(rawOwner: raw, name: name, type: type, class: qclass, ttl: ttl,
                                  rdata: rdata, rdataOffset: rdataStart))
        }
        return records
    }

    var addresses: [IPAddress] { answers.compactMap { IPAddress(bytes: $0.rdata) } }

    /// The OPT record's fields, if the response has exactly one, in the additional section.
    var edns: EDNSRecord? {
        let opts = additional.filter { $0.type == DNSRecordType.opt }
        guard opts.count == 1, let opt = opts.first else { return nil }
        return EDNSRecord(class: opt.class, ttl: opt.ttl)
    }

    /// The full RCODE: the header's 4 bits and the OPT's upper 8 (RFC 6891 §6.1.3).
    var rcode: UInt8 { header.rcode | (edns?.extendedRcode ?? 0) << 4 }

    /// The SOA RDATA of a record, read with the production reader.
    func soa(_ record: Record) throws -> DNSSOA {
        var reader = DNSWireReader(message: message)
        try reader.seek(to: record.rdataOffset)
        return try DNSSOA(reading: &reader)
    }

    /// A name in a record's RDATA (an NS target).
    func rdataName(_ record: Record) throws -> DNSName {
        var reader = DNSWireReader(message: message)
        try reader.seek(to: record.rdataOffset)
        return try reader.readName()
    }
}

/// SplitMix64: a small deterministic generator, so a failing fuzz case replays exactly.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension CheckIn {
    /// A blank event for the responder to fill (the caller's fields are irrelevant to it).
    static var blank: CheckIn {
        CheckIn(
            time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
            destination: .zero, destinationPort: 0, transport: .udp, service: .dns
        )
    }
}

enum Fixtures {
    static let v4a = IPAddress("198.51.100.10")!
    static let v4b = IPAddress("198.51.100.11")!
    static let v6a = IPAddress("2001:db8::10")!

    static let families = [
        SeizedFamily(name: "rustock", domains: ["evil.example", "C2.Bad.Test."], answers: [v4a, v6a, v4b]),
        SeizedFamily(name: "conficker", domains: ["v4only.example", "sub.evil.example"], answers: [v4b]),
    ]

    static func zones() throws -> SeizedZones { try SeizedZones(families: families) }
    /// The authority the tests' responder uses, serial 2025-06-15T15:06:40Z.
    static let authority = DNSAuthority(
        nameservers: ["ns1.sinkhole.example", "ns2.sinkhole.example."], serial: 1_750_000_000
    )

    static func responder(ttl: UInt32 = 300, authority: DNSAuthority = Fixtures.authority) throws -> DNSResponder {
        DNSResponder(zones: try zones(), ttl: ttl, authority: authority)
    }
}
