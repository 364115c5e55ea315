import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("Apex SOA and NS, negative answers, ANY and zone transfers")
struct DNSAuthorityTests {
    static func run(_ bytes: [UInt8], responder: DNSResponder? = nil) throws -> (DecodedResponse, CheckIn) {
        let responder = try responder ?? Fixtures.responder()
        var out = ByteBuffer()
        var checkIn = CheckIn.blank
        #expect(responder.respond(to: buffer(bytes), into: &out, checkIn: &checkIn))
        return (try DecodedResponse(out), checkIn)
    }

    static func name(_ text: String) -> DNSName { DNSName(presentation: text)! }

    @Test("SOA at a seized apex: one SOA owned by the question name, with the authority's fields")
    func apexSOA() throws {
        let (r, checkIn) = try Self.run(WireQuery.make("Evil.EXAMPLE", type: DNSRecordType.soa))
        #expect(r.header.rcode == DNSRcode.noError.rawValue && r.header.authoritativeAnswer)
        let record = try #require(r.answers.first)
        #expect(r.answers.count == 1 && r.authority.isEmpty && r.additional.isEmpty)
        #expect(record.type == DNSRecordType.soa && record.class == 1 && record.ttl == 300)
        #expect(record.rawOwner == [0xC0, 12], "owner is a pointer to the question")
        #expect(record.name.presentation == "Evil.EXAMPLE", "the bot's letter case is kept")
        let soa = try r.soa(record)
        #expect(soa == DNSSOA(
            primary: Self.name("ns1.sinkhole.example"), mailbox: Self.name("hostmaster.ns1.sinkhole.example"),
            serial: 1_750_000_000, refresh: DNSAuthority.defaultRefresh, retry: DNSAuthority.defaultRetry,
            expire: DNSAuthority.defaultExpire, minimum: 300
        ))
        #expect(checkIn.dnsType == DNSRecordType.soa && checkIn.family.text == "rustock")
    }

    @Test("NS at a seized apex: every configured nameserver, in order")
    func apexNS() throws {
        let (r, _) = try Self.run(WireQuery.make("c2.bad.test", type: DNSRecordType.ns))
        #expect(r.header.rcode == DNSRcode.noError.rawValue && r.header.authoritativeAnswer)
        #expect(r.answers.map(\.type) == [DNSRecordType.ns, DNSRecordType.ns])
        #expect(try r.answers.map { try r.rdataName($0).presentation } == ["ns1.sinkhole.example", "ns2.sinkhole.example"])
        #expect(r.answers.allSatisfy { $0.rawOwner == [0xC0, 12] && $0.ttl == 300 })
        #expect(r.authority.isEmpty)
    }

    @Test("SOA, NS and other types below the apex are NODATA with the apex SOA, owner in the bot's case",
          arguments: [
            ("WWW.Evil.Example", DNSRecordType.soa, "Evil.Example", UInt8(16)),
            ("www.evil.example", DNSRecordType.ns, "evil.example", 16),
            ("a.SUB.evil.example", DNSRecordType.soa, "SUB.evil.example", 14),
            ("x.y.c2.BAD.test", 16, "c2.BAD.test", 16),
            ("evil.example", 15, "evil.example", 12),
            ("v4only.example", DNSRecordType.aaaa, "v4only.example", 12),
          ])
    func noDataBelowApex(_ qname: String, _ type: UInt16, _ apex: String, _ ownerOffset: UInt8) throws {
        let (r, checkIn) = try Self.run(WireQuery.make(qname, type: type))
        #expect(r.header.rcode == DNSRcode.noError.rawValue && r.header.authoritativeAnswer)
        #expect(r.answers.isEmpty)
        let soa = try #require(r.authority.first)
        #expect(r.authority.count == 1 && soa.type == DNSRecordType.soa)
        #expect(soa.rawOwner == [0xC0, ownerOffset], "owner points into the question name")
        #expect(soa.name.presentation == apex)
        #expect(try r.soa(soa).serial == 1_750_000_000)
        #expect(checkIn.dnsRcode == 0)
    }

    @Test("the negative answer's SOA TTL is min(SOA TTL, MINIMUM) (RFC 2308 §3)",
          arguments: [(UInt32(3600), UInt32?(60), UInt32(60), UInt32(60)),
                      (30, 600, 30, 600), (300, nil, 300, 300)])
    func negativeTTL(_ ttl: UInt32, _ negative: UInt32?, _ expectedTTL: UInt32, _ expectedMinimum: UInt32) throws {
        let authority = DNSAuthority(nameservers: ["ns1.sinkhole.example"], serial: 7, negativeTTL: negative)
        let responder = try Fixtures.responder(ttl: ttl, authority: authority)
        let (nodata, _) = try Self.run(WireQuery.make("x.evil.example", type: 99), responder: responder)
        let soa = try #require(nodata.authority.first)
        #expect(soa.ttl == expectedTTL)
        #expect(try nodata.soa(soa).minimum == expectedMinimum)
        let (apex, _) = try Self.run(WireQuery.make("evil.example", type: DNSRecordType.soa), responder: responder)
        #expect(apex.answers.first?.ttl == ttl, "asked for, the SOA has the zone's TTL")
    }

    @Test("with no nameservers configured the authority names ns.sinkhole.invalid and its hostmaster")
    func defaultAuthority() throws {
        let authority = DNSAuthority(nameservers: [], serial: 1)
        #expect(authority.nameservers == [Self.name("ns.sinkhole.invalid")])
        #expect(authority.mailbox == Self.name("hostmaster.ns.sinkhole.invalid"))
        let responder = try Fixtures.responder(authority: DNSAuthority())
        let (r, _) = try Self.run(WireQuery.make("evil.example", type: DNSRecordType.ns), responder: responder)
        #expect(try r.answers.map { try r.rdataName($0).presentation } == ["ns.sinkhole.invalid"])
    }

    @Test("invalid nameserver names are left out; a mailbox is written as an RNAME")
    func authorityNames() throws {
        let authority = DNSAuthority(nameservers: ["bad..name", "", "NS.Sinkhole.Example."], mailbox: "first.last@sinkhole.example")
        #expect(authority.nameservers == [Self.name("NS.Sinkhole.Example")])
        // RFC 1035 §8: the local part is one label, its dot inside it.
        #expect(authority.mailbox.labels.map { String(decoding: $0, as: UTF8.self) } == ["first.last", "sinkhole", "example"])
        #expect(DNSAuthority(mailbox: "abuse.sinkhole.example").mailbox == Self.name("abuse.sinkhole.example"))
        #expect(DNSAuthority(mailbox: "@nowhere").mailbox == Self.name("hostmaster.ns.sinkhole.invalid"))
        #expect(DNSAuthority.serial(loadedAt: UTCTime(seconds: 1_750_000_000, microseconds: 999_999)) == 1_750_000_000)
        #expect(DNSAuthority.serial(loadedAt: UTCTime(seconds: 1 << 32 + 5)) == 5, "serials wrap (RFC 1982)")
    }

    static let v6Only = IPAddress("2001:db8::66")!
    static func mixedResponder() throws -> DNSResponder {
        let zones = try SeizedZones(families: [
            SeizedFamily(name: "dual", domains: ["dual.example"], answers: [Fixtures.v6a, Fixtures.v4a]),
            SeizedFamily(name: "six", domains: ["six.example"], answers: [v6Only]),
            SeizedFamily(name: "none", domains: ["none.example"], answers: []),
        ])
        return DNSResponder(zones: zones, ttl: 300, authority: Fixtures.authority)
    }

    @Test("ANY gets one RRset (RFC 8482 §4.2): A, else AAAA, else the apex SOA, else NODATA",
          arguments: [("dual.example", [DNSRecordType.a], false), ("www.six.example", [DNSRecordType.aaaa], false),
                      ("none.example", [DNSRecordType.soa], false), ("x.none.example", [], true)])
    func any(_ qname: String, _ types: [UInt16], _ negative: Bool) throws {
        let (r, checkIn) = try Self.run(WireQuery.make(qname, type: DNSRecordType.any), responder: Self.mixedResponder())
        #expect(r.header.rcode == DNSRcode.noError.rawValue && r.header.authoritativeAnswer)
        #expect(r.answers.map(\.type) == types)
        #expect(r.authority.map(\.type) == (negative ? [DNSRecordType.soa] : []))
        #expect(checkIn.dnsType == DNSRecordType.any)
    }

    @Test("AXFR and IXFR are refused and logged with their type, rcode and family",
          arguments: [DNSRecordType.axfr, DNSRecordType.ixfr])
    func zoneTransfer(_ type: UInt16) throws {
        for bytes in [WireQuery.make("evil.example", type: type), WireQuery.withEDNS("evil.example", type: type)] {
            let (r, checkIn) = try Self.run(bytes)
            #expect(r.header.rcode == DNSRcode.refused.rawValue && !r.header.authoritativeAnswer)
            #expect(r.answers.isEmpty && r.authority.isEmpty)
            #expect(r.question?.type == type)
            #expect(checkIn.dnsRcode == DNSRcode.refused.rawValue && checkIn.dnsType == type)
            #expect(checkIn.family.text == "rustock")
        }
    }

    @Test("names under a seized apex are never NXDOMAIN (RFC 8020), whatever the type")
    func neverNXDomain() throws {
        for type: UInt16 in [1, 2, 5, 6, 15, 16, 28, 33, 64, 65, 99, 255, 65_535] {
            let (r, _) = try Self.run(WireQuery.make("deep.er.evil.example", type: type))
            #expect(r.header.rcode == DNSRcode.noError.rawValue, "type \(type)")
            #expect(!r.answers.isEmpty || r.authority.count == 1, "type \(type): NODATA with SOA")
        }
    }
}
