import NIOCore
import SinkholeCore
import Testing
@testable import SinkholeDNS

/// Hammers the DNS codec's raw-memory code (`DNSWireUnsafe.swift`): every part a reply is made
/// of, written through `DNSWireWriter`, must give exactly the bytes of an independent encoder
/// written here byte by byte from the RFCs, appended after whatever the buffer already holds;
/// names must be read the same from any position in a buffer.
@Suite("DNS wire: raw-memory writes and reads")
struct DNSWireUnsafeTests {
    // The reference encoder: plain array appends, network order.
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }
    static func address(_ a: IPAddress) -> [UInt8] {
        let low = stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: a.low >> UInt64($0)) }
        if a.family == .v4 { return Array(low.suffix(4)) }
        return stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: a.high >> UInt64($0)) } + low
    }
    static func soa(_ s: DNSSOA) -> [UInt8] {
        s.primary.wire + s.mailbox.wire + [s.serial, s.refresh, s.retry, s.expire, s.minimum].flatMap(be32)
    }
    static func record(_ r: DNSRecord) -> [UInt8] {
        let rdata: [UInt8] = switch r.data {
        case .address(let a): address(a)
        case .nameserver(let n): n.wire
        case .soa(let s): soa(s)
        }
        return be16(0xC000 | r.ownerOffset) + be16(r.type) + be16(1) + be32(r.ttl) + be16(UInt16(rdata.count)) + rdata
    }

    static func randomName(_ rng: inout SeededRandom) -> DNSName {
        let labels = (0..<Int.random(in: 1...6, using: &rng)).map { _ in
            (0..<Int.random(in: 1...20, using: &rng)).map { _ in UInt8.random(in: 0x21...0x7E, using: &rng) }
        }
        return DNSName(labels: labels)!
    }

    static func randomRecord(_ rng: inout SeededRandom) -> DNSRecord {
        let ttl = UInt32.random(in: .min ... .max, using: &rng)
        let offset = UInt16.random(in: 0..<0x4000, using: &rng)
        let data: DNSRecord.RData = switch Int.random(in: 0..<4, using: &rng) {
        case 0: .address(IPAddress(ipv4: UInt32.random(in: .min ... .max, using: &rng)))
        case 1: .address(IPAddress(ipv6High: .random(in: .min ... .max, using: &rng), low: .random(in: .min ... .max, using: &rng)))
        case 2: .nameserver(randomName(&rng))
        default: .soa(DNSSOA(primary: randomName(&rng), mailbox: randomName(&rng),
                             serial: .random(in: .min ... .max, using: &rng), refresh: .random(in: .min ... .max, using: &rng),
                             retry: .random(in: .min ... .max, using: &rng), expire: .random(in: .min ... .max, using: &rng),
                             minimum: .random(in: .min ... .max, using: &rng)))
        }
        return DNSRecord(ownerOffset: offset, ttl: ttl, data: data)
    }

    @Test("every record, SOA, question, header and OPT is written byte for byte as the RFCs say, after what the buffer held")
    func partsMatchTheReference() {
        var rng = SeededRandom(seed: 0xD15C0)
        for _ in 0..<2_000 {
            // A buffer that already holds bytes and has been read from: writes must append.
            let prefix = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var out = ByteBuffer(bytes: prefix)
            out.moveReaderIndex(forwardBy: prefix.count / 2)
            var expected = Array(prefix[(prefix.count / 2)...])

            let r = Self.randomRecord(&rng)
            r.write(into: &out)
            expected += Self.record(r)
            #expect(Self.record(r).count == r.wireLength)

            let q = DNSQuestion(name: Self.randomName(&rng), type: .random(in: 0...0xFFFF, using: &rng),
                                class: .random(in: 0...0xFFFF, using: &rng))
            q.write(into: &out)
            expected += q.name.wire + Self.be16(q.type) + Self.be16(q.class)

            let h = DNSHeader(id: .random(in: 0...0xFFFF, using: &rng), flags: .random(in: 0...0xFFFF, using: &rng),
                              questionCount: .random(in: 0...0xFFFF, using: &rng), answerCount: .random(in: 0...0xFFFF, using: &rng),
                              authorityCount: .random(in: 0...0xFFFF, using: &rng), additionalCount: .random(in: 0...0xFFFF, using: &rng))
            h.write(into: &out)
            expected += [h.id, h.flags, h.questionCount, h.answerCount, h.authorityCount, h.additionalCount].flatMap(Self.be16)

            let e = EDNSRecord(udpPayloadSize: .random(in: 0...0xFFFF, using: &rng), extendedRcode: .random(in: 0...255, using: &rng),
                               version: .random(in: 0...255, using: &rng), dnssecOK: .random(using: &rng))
            e.write(into: &out)
            expected += [0] + Self.be16(41) + Self.be16(e.udpPayloadSize) + Self.be32(e.ttlField) + Self.be16(0)

            #expect(Array(out.readableBytesView) == expected)
        }
    }

    @Test("a whole response, at every size limit, is the reference bytes with the counts and TC the limit allows")
    func responsesAtEveryLimit() {
        var rng = SeededRandom(seed: 0x5EED)
        for _ in 0..<200 {
            let question = DNSQuestion(name: Self.randomName(&rng), type: DNSRecordType.a)
            let answers = (0..<Int.random(in: 0...4, using: &rng)).map { _ in Self.randomRecord(&rng) }
            let authority: DNSRecord? = Bool.random(using: &rng) ? Self.randomRecord(&rng) : nil
            let edns: EDNSRecord? = Bool.random(using: &rng) ? EDNSRecord(dnssecOK: .random(using: &rng)) : nil
            let response = DNSResponse(id: .random(in: 0...0xFFFF, using: &rng), opcode: 0, rcode: .noError,
                                       authoritative: true, recursionDesired: .random(using: &rng),
                                       question: question, answers: answers, authority: authority, edns: edns)
            let fixed = 12 + question.name.wire.count + 4 + (edns == nil ? 0 : 11)
            let answerBytes = answers.flatMap(Self.record)
            let authorityBytes = authority.map(Self.record) ?? []
            for limit in [0, fixed - 1, fixed, fixed + answerBytes.count, fixed + answerBytes.count + authorityBytes.count, 65_535] {
                var out = ByteBuffer()
                response.write(into: &out, sizeLimit: limit)
                let withAnswers = fixed + answerBytes.count <= limit
                let withAuthority = withAnswers && authority != nil && fixed + answerBytes.count + authorityBytes.count <= limit
                let truncated = fixed > limit || !withAnswers || (authority != nil && !withAuthority)
                var header = DNSHeader(id: response.id)
                header.isResponse = true
                header.authoritativeAnswer = true
                header.truncated = truncated
                header.recursionDesired = response.recursionDesired
                header.questionCount = 1
                header.answerCount = withAnswers ? UInt16(answers.count) : 0
                header.authorityCount = withAuthority ? 1 : 0
                header.additionalCount = edns == nil ? 0 : 1
                var expected = [header.id, header.flags, header.questionCount, header.answerCount,
                                header.authorityCount, header.additionalCount].flatMap(Self.be16)
                expected += question.name.wire + Self.be16(question.type) + Self.be16(question.class)
                if withAnswers { expected += answerBytes }
                if withAuthority { expected += authorityBytes }
                if let edns { expected += [0] + Self.be16(41) + Self.be16(edns.udpPayloadSize) + Self.be32(edns.ttlField) + Self.be16(0) }
                #expect(Array(out.readableBytesView) == expected, "limit \(limit)")
            }
        }
    }

    @Test("a question name is read the same wherever the message starts in its buffer, compressed or not")
    func namesReadFromAnyBufferPosition() throws {
        var rng = SeededRandom(seed: 0xBA5E)
        for _ in 0..<500 {
            let name = Self.randomName(&rng)
            // Header, the name at 12, then a pointer to it: both must read back as the name.
            let message = WireQuery.header() + name.wire + [0xC0, 12]
            let junk = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var buffer = ByteBuffer(bytes: junk + message + junk)
            buffer.moveReaderIndex(forwardBy: junk.count)
            buffer.moveWriterIndex(to: junk.count + message.count)
            var reader = DNSWireReader(message: buffer)
            try reader.seek(to: 12)
            var storage: [UInt8] = []
            let read = try reader.readName(reusing: &storage)
            #expect(read.wire == name.wire)
            #expect(reader.offset == 12 + name.wire.count)
            #expect(try reader.readName().wire == name.wire)
            // Every cut of the message inside the name is refused, never read past the end.
            for cut in 13..<(12 + name.wire.count) {
                var short = ByteBuffer(bytes: junk + message)
                short.moveReaderIndex(forwardBy: junk.count)
                short.moveWriterIndex(to: junk.count + cut)
                var r = DNSWireReader(message: short)
                try r.seek(to: 12)
                #expect(throws: DNSParseError.self) { try r.readName() }
            }
        }
    }

    @Test("a part that writes more or fewer bytes than measured stops the process instead of sending them")
    func measuredLengthIsEnforced() async {
        await #expect(processExitsWith: .failure) {
            var out = ByteBuffer()
            out.writeDNS(exactly: 4) { $0.put(UInt16(1)) }
        }
        await #expect(processExitsWith: .failure) {
            var out = ByteBuffer()
            out.writeDNS(exactly: 2) { $0.put(UInt32(1)) }
        }
    }
}
