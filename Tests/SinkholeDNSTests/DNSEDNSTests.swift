import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("EDNS(0): OPT records, payload sizes, BADVERS and FORMERR")
struct DNSEDNSTests {
    static func run(
        _ bytes: [UInt8], responder: DNSResponder? = nil, transport: DNSResponder.Transport = .udp
    ) throws -> (DecodedResponse, CheckIn) {
        let responder = try responder ?? Fixtures.responder()
        var out = ByteBuffer()
        var checkIn = CheckIn.blank
        #expect(responder.respond(to: buffer(bytes), into: &out, checkIn: &checkIn, transport: transport))
        return (try DecodedResponse(out), checkIn)
    }

    /// A family with `count` IPv4 addresses under `big.example`: 29 bytes of header and
    /// question, then 16 bytes per A record.
    static func bigResponder(_ count: Int) throws -> DNSResponder {
        let many = (1...count).map { IPAddress(ipv4: 0xC633_6400 + UInt32($0)) }
        let zones = try SeizedZones(families: [SeizedFamily(name: "big", domains: ["big.example"], answers: many)])
        return DNSResponder(zones: zones, ttl: 60, authority: Fixtures.authority)
    }

    @Test("a reply to an EDNS query carries one OPT: root owner, version 0, 1232 bytes, no options")
    func optEchoed() throws {
        for qname in ["evil.example", "x.evil.example", "not-seized.example"] {
            let (r, _) = try Self.run(WireQuery.withEDNS(qname, type: 28, opt: WireQuery.opt(size: 4096)))
            let opt = try #require(r.additional.first)
            #expect(r.additional.count == 1 && opt.type == DNSRecordType.opt, "\(qname)")
            #expect(opt.rawOwner == [0] && opt.rdata.isEmpty)
            #expect(r.edns == EDNSRecord(udpPayloadSize: 1232, extendedRcode: 0, version: 0, dnssecOK: false))
        }
    }

    @Test("the DO bit is copied (RFC 3225 §3); unknown flags and options are ignored, not echoed")
    func flagsAndOptions() throws {
        // DO plus reserved Z bits, an unknown option, an NSID request and a cookie.
        let options: [UInt8] = [0xFD, 0xE9, 0, 3, 1, 2, 3] + [0, 3, 0, 0] + [0, 10, 0, 8] + [UInt8](repeating: 7, count: 8)
        let (r, checkIn) = try Self.run(WireQuery.withEDNS("evil.example", opt: WireQuery.opt(flags: 0x8123, options: options)))
        #expect(r.header.rcode == DNSRcode.noError.rawValue)
        #expect(r.addresses == [Fixtures.v4a, Fixtures.v4b])
        #expect(r.edns == EDNSRecord(dnssecOK: true))
        #expect(r.edns?.reservedFlags == 0)
        #expect(r.additional.first?.rdata == [])
        #expect(checkIn.dnsRcode == 0)
        let (plain, _) = try Self.run(WireQuery.withEDNS("evil.example", opt: WireQuery.opt(flags: 0x0040)))
        #expect(plain.edns?.dnssecOK == false)
    }

    @Test("a query without OPT gets a reply without OPT")
    func noOPT() throws {
        let (r, _) = try Self.run(WireQuery.make("x.evil.example", type: 16))
        #expect(r.additional.isEmpty && r.header.additionalCount == 0 && r.edns == nil)
    }

    @Test("the reply fits the client's payload size: under 512 counts as 512, above 1232 as 1232",
          arguments: [
            // (A records, OPT size or nil for no EDNS, transport, truncated)
            (60, UInt16?.none, DNSResponder.Transport.udp, true),   // 989 > 512
            (60, 1232, .udp, false),                                // 1000 ≤ 1232
            (60, 600, .udp, true),                                  // 1000 > 600
            (20, 100, .udp, false),                                 // 360 ≤ 512 (100 → 512)
            (31, 0, .udp, true),                                    // 536 > 512 (0 → 512)
            (29, 0, .udp, false),                                   // 504 ≤ 512
            (100, 4096, .udp, true),                                // 1640 > 1232 (4096 → 1232)
            (74, 65_535, .udp, false),                              // 1224 ≤ 1232
            (75, 65_535, .udp, true),                               // 1240 > 1232 (65535 → 1232)
            (100, nil, .tcp, false),                                // TCP: 65535
            (100, 512, .tcp, false),
          ] as [(Int, UInt16?, DNSResponder.Transport, Bool)])
    func payloadSize(_ count: Int, _ size: UInt16?, _ transport: DNSResponder.Transport, _ truncated: Bool) throws {
        let responder = try Self.bigResponder(count)
        let bytes = size.map { WireQuery.withEDNS("big.example", opt: WireQuery.opt(size: $0)) } ?? WireQuery.make("big.example")
        let (r, _) = try Self.run(bytes, responder: responder, transport: transport)
        #expect(r.header.truncated == truncated)
        #expect(r.answers.count == (truncated ? 0 : count), "the RRset goes whole or not at all")
        #expect(r.question?.name.presentation == "big.example", "the question is always kept")
        #expect((r.edns != nil) == (size != nil), "the OPT is always kept")
        if transport == .udp {
            let limit = size.map { min(max(Int($0), 512), 1232) } ?? 512
            #expect(r.byteCount <= limit)
        }
    }

    @Test("an EDNS version above 0 gets BADVERS: header RCODE 0, OPT EXTENDED-RCODE 1, version 0",
          arguments: [UInt8(1), 2, 255])
    func badVersion(_ version: UInt8) throws {
        let (r, checkIn) = try Self.run(WireQuery.withEDNS("evil.example", opt: WireQuery.opt(version: version, flags: 0x8000)))
        #expect(r.header.rcode == 0)
        #expect(r.edns == EDNSRecord(extendedRcode: 1, version: 0, dnssecOK: true))
        #expect(r.rcode == DNSRcode.badVers.rawValue)
        #expect(r.answers.isEmpty && r.authority.isEmpty && !r.header.authoritativeAnswer)
        #expect(r.question?.name.presentation == "evil.example")
        #expect(checkIn.dnsRcode == 16)
        #expect(checkIn.family.text == "rustock" && checkIn.name.text == "evil.example")
    }

    static let q = WireQuery.name("evil.example") + WireQuery.u16(1) + WireQuery.u16(1)

    static let formErrCases: [(String, [UInt8], DNSParseError)] = [
        ("two OPT records", WireQuery.header(ar: 2) + q + WireQuery.opt + WireQuery.opt, .multipleOPT),
        ("OPT in the answer section", WireQuery.header(an: 1) + q + WireQuery.opt, .optOutsideAdditional),
        ("OPT in the authority section", WireQuery.header(ns: 1) + q + WireQuery.opt, .optOutsideAdditional),
        ("OPT owned by a name", WireQuery.header(ar: 1) + q + WireQuery.opt(owner: WireQuery.name("x.example")), .optOwnerNotRoot),
        ("OPT owned by a pointer to the question", WireQuery.header(ar: 1) + q + WireQuery.opt(owner: [0xC0, 12]), .optOwnerNotRoot),
        ("ARCOUNT 2, one OPT", WireQuery.header(ar: 2) + q + WireQuery.opt, .truncated),
        ("ANCOUNT 3, no records", WireQuery.header(an: 3) + q, .truncated),
        ("NSCOUNT 1, half a record", WireQuery.header(ns: 1) + q + [0xC0, 12, 0, 1, 0], .truncated),
        ("OPT RDLENGTH past the end", WireQuery.header(ar: 1) + q + [0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 10, 1], .truncated),
        ("option longer than the RDATA", WireQuery.header(ar: 1) + q + WireQuery.opt(options: [0, 10, 0, 8, 1, 2]), .malformedOption),
        ("half an option header", WireQuery.header(ar: 1) + q + WireQuery.opt(options: [0, 10]), .malformedOption),
    ]

    @Test("broken record sections get FORMERR, question echoed and logged, no OPT", arguments: formErrCases)
    func formErr(_ label: String, _ bytes: [UInt8], _ reason: DNSParseError) throws {
        guard case .malformedRecords(let query, let got) = DNSQuery.parse(buffer(bytes)) else {
            Issue.record("\(label): expected malformed records, got \(DNSQuery.parse(buffer(bytes)))")
            return
        }
        #expect(got == reason, "\(label)")
        #expect(query.edns == nil)
        let (r, checkIn) = try Self.run(bytes)
        #expect(r.header.rcode == DNSRcode.formErr.rawValue, "\(label)")
        #expect(r.question?.name.presentation == "evil.example", "\(label)")
        #expect(r.answers.isEmpty && r.authority.isEmpty && r.additional.isEmpty, "\(label)")
        #expect(checkIn.dnsRcode == DNSRcode.formErr.rawValue)
        #expect(checkIn.name.text == "evil.example" && checkIn.family.text == "rustock")
    }

    @Test("ordinary records around a valid OPT are skipped, and trailing bytes are ignored")
    func otherRecords() throws {
        let answer: [UInt8] = [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]
        let bytes = WireQuery.header(an: 1, ns: 1, ar: 2) + Self.q + answer + answer + answer + WireQuery.opt(size: 1400) + [9, 9]
        guard case .query(let query) = DNSQuery.parse(buffer(bytes)) else {
            Issue.record("expected a query")
            return
        }
        #expect(query.edns == EDNSRecord(udpPayloadSize: 1400))
        #expect(query.edns?.responseSizeLimit == 1232)
        let (r, _) = try Self.run(bytes)
        #expect(r.header.rcode == DNSRcode.noError.rawValue && r.edns != nil)
    }

    @Test("the UDP exchange lets the responder size the reply from the query's OPT")
    func exchangeUsesEDNS() throws {
        var exchange = DNSUDPExchange(responder: try Self.bigResponder(60),
                                      rateLimit: .init(responsesPerSecond: 0))
        var replies: [DecodedResponse] = []
        for bytes in [WireQuery.make("big.example"), WireQuery.withEDNS("big.example")] {
            var checkIn = CheckIn.blank
            #expect(exchange.answer(buffer(bytes), checkIn: &checkIn))
            replies.append(try DecodedResponse(exchange.reply))
        }
        #expect(replies[0].header.truncated && replies[0].answers.isEmpty)
        #expect(!replies[1].header.truncated && replies[1].answers.count == 60 && replies[1].byteCount == 1000)
    }
}
