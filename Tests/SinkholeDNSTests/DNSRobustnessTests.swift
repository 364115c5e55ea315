import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

/// Hostile input through the production responder, as Knot's and NSD's fuzz targets and
/// NSD's "every truncation" test do: nothing may trap, and every reply must be a well-formed
/// response of the class the parser's verdict calls for.
@Suite("Truncated, mutated and random packets")
struct DNSRobustnessTests {
    /// Responds to `bytes` over UDP and TCP and checks the replies and the check-in against
    /// the parser's verdict: the invariants the fuzzer checks (`DNSFuzzInvariants`), less the
    /// TCP framing, which would cost a channel per input here (DNSTCPTests cover framing).
    static func check(_ bytes: [UInt8], _ responder: DNSResponder, _ label: @autoclosure () -> String) {
        for violation in DNSFuzzInvariants.violations(for: bytes, responder: responder, framing: false) {
            Issue.record("\(label()): \(violation)")
        }
    }

    /// A query with an OPT that is counted (ARCOUNT 1) and carries an unknown option.
    static let valid = WireQuery.withEDNS(
        "Www.Evil.Example", opt: WireQuery.opt(flags: 0x8000, options: [0xFD, 0xE9, 0, 2, 0xAB, 0xCD])
    )

    @Test("every truncation of a valid query is answered by class: silence, FORMERR, then the answer")
    func everyPrefix() throws {
        let responder = try Fixtures.responder()
        let questionEnd = 12 + WireQuery.name("Www.Evil.Example").count + 4
        for length in 0...Self.valid.count {
            let prefix = Array(Self.valid.prefix(length))
            Self.check(prefix, responder, "prefix \(length)")
            var out = ByteBuffer()
            var checkIn = CheckIn.blank
            let sent = responder.respond(to: buffer(prefix), into: &out, checkIn: &checkIn)
            // Up to the question's end the question is unreadable; after it, ARCOUNT 1 claims
            // an OPT that is cut short: both FORMERR. Only the whole query is answered.
            let expectedRcode: UInt8 = switch length {
            case ..<12: CheckIn.noResponse
            case ..<Self.valid.count: DNSRcode.formErr.rawValue
            default: DNSRcode.noError.rawValue
            }
            if length >= questionEnd, length < Self.valid.count {
                #expect(checkIn.name.text == "Www.Evil.Example", "prefix \(length): a FORMERR query is still logged")
            }
            #expect(sent == (length >= 12), "prefix \(length)")
            #expect(checkIn.dnsRcode == expectedRcode, "prefix \(length)")
        }
        // And the responder still answers the whole query afterwards, identically.
        var first = ByteBuffer()
        var second = ByteBuffer()
        var checkIn = CheckIn.blank
        _ = responder.respond(to: buffer(Self.valid), into: &first, checkIn: &checkIn)
        _ = responder.respond(to: buffer(Self.valid), into: &second, checkIn: &checkIn)
        #expect(first == second)
        let whole = try DecodedResponse(first)
        #expect(whole.addresses == [Fixtures.v4a, Fixtures.v4b])
        #expect(whole.edns == EDNSRecord(dnssecOK: true))
    }

    @Test("seeded random mutations of valid queries never trap and get the right class of reply",
          arguments: [UInt64(1), 2, 3])
    func mutations(seed: UInt64) throws {
        let responder = try Fixtures.responder()
        var rng = SeededRandom(seed: seed)
        let bases = [
            Self.valid,
            WireQuery.make("Www.Evil.Example", type: 1),
            WireQuery.withEDNS("x.v4only.example", type: 28, opt: WireQuery.opt(size: 4096, version: 0)),
            WireQuery.make("a.b.c.sub.evil.example", type: 28),
            WireQuery.header() + WireQuery.name("evil.example") + [0, 1, 0, 1]
                + [3] + Array("www".utf8) + [0xC0, 12, 0, 1, 0, 1],
        ]
        for i in 0..<1_500 {
            var bytes = bases[Int(rng.next() % UInt64(bases.count))]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let position = Int(rng.next() % UInt64(bytes.count + 1))
                switch rng.next() % 4 {
                case 0 where position < bytes.count: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
                case 1 where position < bytes.count: bytes[position] ^= 1 << UInt8(rng.next() % 8)
                case 2 where position < bytes.count: bytes.remove(at: position)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
                }
            }
            // Keep QR clear most of the time, so mutations reach the question parser.
            if bytes.count > 2, rng.next() % 8 != 0 { bytes[2] &= 0x7F }
            Self.check(bytes, responder, "seed \(seed) mutation \(i): \(bytes)")
        }
    }

    @Test("seeded random byte strings never trap and get the right class of reply")
    func randomBytes() throws {
        let responder = try Fixtures.responder()
        var rng = SeededRandom(seed: 0x51_4E_4B)
        for i in 0..<3_000 {
            let count = Int(rng.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Half look like a one-question query header, so the name decoder sees them.
            if count >= 12, i % 2 == 0 {
                bytes[2] &= 0x07
                bytes[4] = 0
                bytes[5] = 1
            }
            Self.check(bytes, responder, "random \(i): \(bytes)")
        }
    }

    @Test("kept crash inputs from earlier runs still get an orderly reply",
          arguments: [
            // Pointer chain through the header counts (12 → 10 → 8 → 6 → root at 0).
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xC0, 0x00, 0xC0, 0x06, 0xC0, 0x08, 0xC0, 0x0A, 0, 1, 0, 1],
            // A name running into the 0x40 type after three labels.
            WireQuery.header() + [1, 0x61, 1, 0x62, 1, 0x63, 0x40, 0, 1, 0, 1],
          ] as [[UInt8]])
    func keptInputs(_ bytes: [UInt8]) throws {
        Self.check(bytes, try Fixtures.responder(), "kept input \(bytes)")
    }
}
