import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("Answering queries")
struct DNSResponderTests {
    struct Outcome {
        var sent: Bool
        var response: DecodedResponse?
        var checkIn: CheckIn
    }

    static func run(_ bytes: [UInt8], responder: DNSResponder? = nil) throws -> Outcome {
        let responder = try responder ?? Fixtures.responder()
        var out = ByteBuffer()
        var checkIn = CheckIn.blank
        let sent = responder.respond(to: buffer(bytes), into: &out, checkIn: &checkIn)
        if !sent {
            #expect(out.readableBytes == 0, "nothing is written when nothing is sent")
            return Outcome(sent: false, response: nil, checkIn: checkIn)
        }
        return Outcome(sent: true, response: try DecodedResponse(out), checkIn: checkIn)
    }

    @Test("an A query for a seized name gets the family's IPv4 addresses, authoritatively")
    func answerA() throws {
        let outcome = try Self.run(WireQuery.make("WWW.Evil.Example", type: 1, id: 0x1234))
        let r = try #require(outcome.response)
        #expect(r.header.id == 0x1234)
        #expect(r.header.isResponse)
        #expect(r.header.authoritativeAnswer)
        #expect(!r.header.recursionAvailable)
        #expect(r.header.recursionDesired)
        #expect(!r.header.truncated)
        #expect(r.header.opcode == 0)
        #expect(r.header.rcode == DNSRcode.noError.rawValue)
        #expect(r.header.authorityCount == 0 && r.header.additionalCount == 0)
        #expect(r.question?.name.presentation == "WWW.Evil.Example")
        #expect(r.question?.type == 1 && r.question?.class == 1)
        #expect(r.addresses == [Fixtures.v4a, Fixtures.v4b])
        for record in r.answers {
            #expect(record.rawOwner == [0xC0, 0x0C], "owner is a pointer to the question")
            #expect(record.name.presentation == "WWW.Evil.Example")
            #expect(record.type == 1 && record.class == 1 && record.ttl == 300)
        }
        #expect(outcome.checkIn.name.text == "WWW.Evil.Example")
        #expect(outcome.checkIn.dnsType == 1)
        #expect(outcome.checkIn.dnsRcode == 0)
        #expect(outcome.checkIn.family.text == "rustock")
    }

    @Test("an AAAA query gets the IPv6 addresses with the configured TTL, RD copied when clear")
    func answerAAAA() throws {
        let responder = try Fixtures.responder(ttl: 86_400)
        let outcome = try Self.run(WireQuery.make("c2.bad.test", type: 28, flags: 0x0000), responder: responder)
        let r = try #require(outcome.response)
        #expect(!r.header.recursionDesired)
        #expect(r.addresses == [Fixtures.v6a])
        #expect(r.answers.map(\.type) == [28])
        #expect(r.answers.map(\.ttl) == [86_400])
        #expect(outcome.checkIn.dnsType == 28)
    }

    @Test("a seized name with no address of the asked type gets NODATA",
          arguments: [("v4only.example", UInt16(28), "conficker"), ("evil.example", 15, "rustock"),
                      ("evil.example", 99, "rustock"), ("x.sub.evil.example", 16, "conficker")])
    func noData(_ name: String, _ type: UInt16, _ family: String) throws {
        let outcome = try Self.run(WireQuery.make(name, type: type))
        let r = try #require(outcome.response)
        #expect(r.header.rcode == DNSRcode.noError.rawValue)
        #expect(r.header.authoritativeAnswer)
        #expect(r.answers.isEmpty)
        #expect(r.authority.map(\.type) == [DNSRecordType.soa], "RFC 2308 §2.2: NODATA carries the SOA")
        #expect(r.question?.name.presentation == name)
        #expect(outcome.checkIn.family.text == family)
        #expect(outcome.checkIn.dnsRcode == 0)
    }

    @Test("names under no seized name are refused, never NXDOMAIN",
          arguments: ["xevil.example", "example", "google.com", ".", "evil.example.org"])
    func refused(_ name: String) throws {
        let outcome = try Self.run(WireQuery.make(name))
        let r = try #require(outcome.response)
        #expect(r.header.rcode == DNSRcode.refused.rawValue)
        #expect(!r.header.authoritativeAnswer && !r.header.recursionAvailable)
        #expect(r.answers.isEmpty)
        #expect(r.question?.name.presentation == name)
        #expect(outcome.checkIn.name.text == name)
        #expect(outcome.checkIn.family.isEmpty)
        #expect(outcome.checkIn.dnsRcode == DNSRcode.refused.rawValue)
    }

    @Test("a seized name asked in class CHAOS is refused but still labelled with its family")
    func otherClass() throws {
        let outcome = try Self.run(WireQuery.make("evil.example", type: 16, class: 3))
        #expect(outcome.response?.header.rcode == DNSRcode.refused.rawValue)
        #expect(outcome.checkIn.family.text == "rustock")
    }

    @Test("an unreadable question gets FORMERR echoing ID, OPCODE and RD, without a question",
          arguments: [
            WireQuery.header(qd: 0),
            WireQuery.header(qd: 2) + WireQuery.name("evil.example") + [0, 1, 0, 1] + WireQuery.name("evil.example") + [0, 1, 0, 1],
            WireQuery.header() + [0xC0, 12, 0, 1, 0, 1],
            WireQuery.header() + [3, 0x61],
            WireQuery.header() + WireQuery.name("evil.example") + [0, 1],
          ])
    func formErr(_ bytes: [UInt8]) throws {
        let outcome = try Self.run(bytes)
        let r = try #require(outcome.response)
        #expect(r.header.id == 0xBEEF)
        #expect(r.header.isResponse && r.header.recursionDesired && !r.header.authoritativeAnswer)
        #expect(r.header.opcode == 0)
        #expect(r.header.rcode == DNSRcode.formErr.rawValue)
        #expect(r.header.questionCount == 0 && r.answers.isEmpty)
        #expect(outcome.checkIn.dnsRcode == DNSRcode.formErr.rawValue)
        #expect(outcome.checkIn.dnsType == 0)
        #expect(outcome.checkIn.name.isEmpty)
    }

    @Test("an OPCODE other than QUERY gets NOTIMP with its OPCODE echoed",
          arguments: [(UInt8(4), true), (5, false), (2, true), (15, true)])
    func notImp(_ opcode: UInt8, _ withQuestion: Bool) throws {
        let flags = UInt16(opcode) << 11
        let bytes = withQuestion
            ? WireQuery.make("evil.example", flags: flags)
            : WireQuery.header(flags: flags, qd: 0)
        let r = try #require(try Self.run(bytes).response)
        #expect(r.header.rcode == DNSRcode.notImp.rawValue)
        #expect(r.header.opcode == opcode)
        #expect(r.header.questionCount == (withQuestion ? 1 : 0))
        #expect(r.answers.isEmpty)
    }

    @Test("responses and runts get no reply at all",
          arguments: [WireQuery.make("evil.example", flags: 0x8100), [], Array(WireQuery.header().prefix(11))])
    func noReply(_ bytes: [UInt8]) throws {
        let outcome = try Self.run(bytes)
        #expect(!outcome.sent)
        #expect(outcome.checkIn.dnsRcode == CheckIn.noResponse)
        #expect(outcome.checkIn.name.isEmpty && outcome.checkIn.dnsType == 0)
    }

    @Test("the check-in's name escapes odd bytes and is marked truncated past 255 bytes")
    func checkInName() throws {
        let odd = WireQuery.header() + [3, 0x41, 0x2E, 0x00] + WireQuery.name("evil.example") + [0, 1, 0, 1]
        let outcome = try Self.run(odd)
        #expect(outcome.checkIn.name.text == "A\\046\\000.evil.example")
        #expect(outcome.checkIn.family.text == "rustock")

        // 4 labels of 60 control bytes: 4 × 240 characters once escaped.
        let labels = (0..<4).flatMap { _ in [UInt8(60)] + [UInt8](repeating: 1, count: 60) }
        let long = try Self.run(WireQuery.header() + labels + [0, 0, 1, 0, 1])
        #expect(long.checkIn.name.count == 255)
        #expect(long.checkIn.name.truncated)
    }

    @Test("the responder leaves time, addresses, ports, transport and service alone")
    func callerFields() throws {
        var checkIn = CheckIn(
            time: UTCTime(seconds: 1_700_000_000), source: Fixtures.v4a, sourcePort: 4242,
            destination: Fixtures.v6a, destinationPort: 53, transport: .tcp, service: .dns
        )
        var out = ByteBuffer()
        _ = try Fixtures.responder().respond(to: buffer(WireQuery.make("evil.example")), into: &out, checkIn: &checkIn)
        #expect(checkIn.time == UTCTime(seconds: 1_700_000_000))
        #expect(checkIn.source == Fixtures.v4a && checkIn.sourcePort == 4242)
        #expect(checkIn.destination == Fixtures.v6a && checkIn.destinationPort == 53)
        #expect(checkIn.transport == .tcp && checkIn.service == .dns)
    }

    @Test("an answer RRset that doesn't fit in 512 bytes is left out whole and TC is set")
    func truncation() throws {
        let many = (1...60).map { IPAddress(ipv4: 0xC633_6400 + UInt32($0)) }
        let zones = try SeizedZones(families: [SeizedFamily(name: "big", domains: ["big.example"], answers: many)])
        var out = ByteBuffer()
        var checkIn = CheckIn.blank
        #expect(DNSResponder(zones: zones, ttl: 60).respond(to: buffer(WireQuery.make("big.example")), into: &out, checkIn: &checkIn))
        let r = try DecodedResponse(out)
        #expect(r.byteCount <= 512)
        #expect(r.header.truncated)
        // 12 + 13 + 4 = 29 bytes before the answers, 16 per A record: 60 need 989 bytes.
        // The RRset goes whole or not at all (RFC 2181 §9; NSD likewise): no partial set.
        #expect(r.answers.isEmpty && r.header.answerCount == 0)
        #expect(r.question?.name.presentation == "big.example")
    }
}
