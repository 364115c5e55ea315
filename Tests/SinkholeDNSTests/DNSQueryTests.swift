import NIOCore
import SinkholeDNS
import Testing

@Suite("Parsing a query")
struct DNSQueryTests {
    @Test("a plain A query parses into header and question with letter case kept")
    func validQuery() throws {
        let result = DNSQuery.parse(buffer(WireQuery.make("WwW.Evil.Example", type: 28)))
        guard case .query(let query) = result else {
            Issue.record("expected a query, got \(result)")
            return
        }
        #expect(query.header.id == 0xBEEF)
        #expect(query.header.recursionDesired)
        #expect(!query.header.isResponse)
        #expect(query.header.opcode == 0)
        #expect(query.header.questionCount == 1)
        #expect(query.question.name.presentation == "WwW.Evil.Example")
        #expect(query.question.name.labels.map { Array($0) } == ["WwW", "Evil", "Example"].map { Array($0.utf8) })
        #expect(query.question.type == 28)
        #expect(query.question.class == 1)
    }

    @Test("the root name parses as '.'")
    func rootName() {
        guard case .query(let query) = DNSQuery.parse(buffer(WireQuery.make(".", type: 2))) else {
            Issue.record("expected a query")
            return
        }
        #expect(query.question.name.isRoot)
        #expect(query.question.name.presentation == ".")
    }

    @Test("records after the question (an OPT, answers) don't make the query fail")
    func trailingRecords() {
        let bytes = WireQuery.header(an: 1, ar: 1) + WireQuery.name("a.example") + [0, 1, 0, 1]
            + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4] + WireQuery.opt
        guard case .query(let query) = DNSQuery.parse(buffer(bytes)) else {
            Issue.record("expected a query")
            return
        }
        #expect(query.question.name.presentation == "a.example")
    }

    @Test("a question name compressed into the header is followed")
    func compressedIntoHeader() {
        // The name at 12 points to offset 10 (ARCOUNT's bytes), read as the root label 0x00.
        let bytes = WireQuery.header(ar: 0x0000) + [0xC0, 10] + [0, 1, 0, 1]
        guard case .query(let query) = DNSQuery.parse(buffer(bytes)) else {
            Issue.record("expected a query")
            return
        }
        #expect(query.question.name.isRoot)
    }

    @Test("a message starting after the buffer's reader index parses from there")
    func readerIndexOffset() {
        var buf = ByteBuffer(bytes: [9, 9, 9] + WireQuery.make("a.example"))
        buf.moveReaderIndex(forwardBy: 3)
        guard case .query(let query) = DNSQuery.parse(buf) else {
            Issue.record("expected a query")
            return
        }
        #expect(query.question.name.presentation == "a.example")
    }

    static let headerOnly = WireQuery.header()
    static let longLabel = [UInt8](repeating: UInt8(ascii: "a"), count: 63)
    // Five 63-octet labels are 5 × 64 + 1 = 321 octets: over 255.
    static let tooLongName: [UInt8] = (0..<5).flatMap { (_: Int) -> [UInt8] in [63] + longLabel } + [0]

    static let malformedCases: [(String, [UInt8], DNSParseError)] = [
        ("pointer to itself", headerOnly + [0xC0, 12, 0, 1, 0, 1], .pointerLoop),
        ("pointer into its own labels", headerOnly + [1, 0x61, 0xC0, 12, 0, 1, 0, 1], .pointerLoop),
        ("forward pointer", headerOnly + [0xC0, 14, 0, 0, 1, 0, 1], .forwardPointer),
        ("pointer past the end", headerOnly + [0xFF, 0xFF, 0, 1, 0, 1], .pointerOutOfRange),
        ("length byte 64, past the 63 limit (reserved type 0b01)", headerOnly + [64] + longLabel + [0x61, 0, 0, 1, 0, 1], .reservedLabelType),
        ("label type 0b10", headerOnly + [0x80, 0, 0, 1, 0, 1], .reservedLabelType),
        ("name over 255 octets", headerOnly + tooLongName + [0, 1, 0, 1], .nameTooLong),
        ("labels to the end, no root label", headerOnly + [3, 0x61, 0x62, 0x63], .missingRootLabel),
        ("label longer than the rest", headerOnly + [10, 0x61, 0x62], .truncated),
        ("question without QTYPE/QCLASS", headerOnly + WireQuery.name("a.example"), .truncated),
        ("question with half a QCLASS", headerOnly + WireQuery.name("a.example") + [0, 1, 0], .truncated),
        ("QDCOUNT 1 but nothing after the header", headerOnly, .truncated),
        ("pointer cut after its first byte", headerOnly + [0xC0], .truncated),
        ("QDCOUNT 0", WireQuery.header(qd: 0), .noQuestion),
        ("QDCOUNT 2", WireQuery.header(qd: 2) + WireQuery.name("a.example") + [0, 1, 0, 1]
            + WireQuery.name("b.example") + [0, 1, 0, 1], .multipleQuestions),
    ]

    @Test("an unreadable question with a readable header is malformed, with its reason",
          arguments: malformedCases)
    func malformed(_ name: String, _ bytes: [UInt8], _ reason: DNSParseError) {
        let result = DNSQuery.parse(buffer(bytes))
        guard case .malformed(let header, let got) = result else {
            Issue.record("\(name): expected malformed, got \(result)")
            return
        }
        #expect(got == reason, "\(name)")
        #expect(header.id == 0xBEEF)
    }

    @Test("packets shorter than a header, or with QR set, get no reply",
          arguments: [
            ([UInt8](), DNSParseError.truncatedHeader),
            ([0xBE], .truncatedHeader),
            (Array(WireQuery.header().prefix(11)), .truncatedHeader),
            (WireQuery.make("evil.example", flags: 0x8100), .responseBit),
            (WireQuery.header(flags: 0x8000, qd: 0), .responseBit),
          ])
    func noReply(_ bytes: [UInt8], _ reason: DNSParseError) {
        #expect(DNSQuery.parse(buffer(bytes)) == .noReply(reason))
    }
}
