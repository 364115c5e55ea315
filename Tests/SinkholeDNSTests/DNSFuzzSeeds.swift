import SinkholeDNS

/// The fuzzer's seed corpus, `Fuzz/corpus/dns/`: small queries that reach each branch of the
/// parser and the responder, so mutation starts from every interesting shape instead of
/// having to find a valid header first.
///
/// The committed files are written from this list (`make fuzz-seeds`), and
/// `FuzzCrashReplayTests` checks that they still match it byte for byte. Names refer to
/// `DNSFuzzInvariants.responder`'s zones.
enum DNSFuzzSeeds {
    typealias Seed = (name: String, bytes: [UInt8])

    static let all: [Seed] = questions + edns + compression + malformed + framing

    private typealias W = WireQuery

    /// Concatenates parts (one call instead of a chain of `+`, which the type checker
    /// gives up on in a list this long).
    private static func bytes(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
    /// QTYPE A, QCLASS IN.
    private static let aIN: [UInt8] = [0, 1, 0, 1]
    /// An answer record's fields after its owner: TYPE A, CLASS IN, TTL 60, RDATA 192.0.2.1.
    private static let aRecordAfterOwner: [UInt8] = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]

    /// One question each, no EDNS: every type the responder treats apart.
    static let questions: [Seed] = [
        ("a-seized", W.make("www.evil.example")),
        ("a-apex-no-rd", W.make("evil.example", flags: 0)),
        ("aaaa-seized", W.make("Www.Evil.Example", type: DNSRecordType.aaaa)),
        ("aaaa-v4-only-family", W.make("x.sub.evil.example", type: DNSRecordType.aaaa)),
        ("any-seized", W.make("c2.bad.test", type: DNSRecordType.any)),
        ("any-v6-only-family", W.make("www.v6only.example", type: DNSRecordType.any)),
        ("any-no-address-apex", W.make("silent.example", type: DNSRecordType.any)),
        ("any-no-address-below-apex", W.make("x.silent.example", type: DNSRecordType.any)),
        ("a-no-address-family", W.make("x.silent.example")),
        ("soa-apex", W.make("evil.example", type: DNSRecordType.soa)),
        ("soa-below-apex", W.make("a.b.evil.example", type: DNSRecordType.soa)),
        ("ns-apex", W.make("C2.bad.TEST", type: DNSRecordType.ns)),
        ("ns-below-apex", W.make("x.c2.bad.test", type: DNSRecordType.ns)),
        ("txt-seized", W.make("evil.example", type: 16)),
        ("mx-seized", W.make("mail.evil.example", type: 15)),
        ("a-many-truncated-udp", W.make("many.example")),
        ("aaaa-many-truncated-udp", W.make("cdn.many.example", type: DNSRecordType.aaaa)),
        ("a-idn-apex", W.make("xn--bcher-kva.example")),
        ("a-not-seized", W.make("www.example.com")),
        ("a-label-boundary", W.make("xevil.example")),
        ("a-root", bytes(W.header(), [0], aIN)),
        ("axfr-seized", W.make("evil.example", type: DNSRecordType.axfr)),
        ("ixfr-seized", W.make("evil.example", type: DNSRecordType.ixfr)),
        ("txt-chaos-version-bind", W.make("version.bind", type: 16, class: 3)),
        ("a-class-any", W.make("evil.example", class: 255)),
        ("a-escaped-bytes", bytes(W.header(), [5, 0x61, 0x2E, 0x5C, 0x00, 0xFF], W.name("evil.example"), aIN)),
        ("a-63-octet-label", W.make(String(repeating: "q", count: 63) + ".evil.example")),
        // 255 octets on the wire: 3 labels of 63, one of 48, then evil.example (14 with root).
        ("a-255-octet-name", W.make(longName([63, 63, 63, 48]))),
        ("notify-seized", W.make("evil.example", type: DNSRecordType.soa, flags: 0x2000)),
        ("update-seized", bytes(W.header(flags: 0x2800, ns: 1), W.name("evil.example"), [0, 6, 0, 1],
                                [0xC0, 12], aRecordAfterOwner)),
    ]

    /// OPT records (RFC 6891): sizes, flags, versions, options, and the ways to break them.
    static let edns: [Seed] = [
        ("edns-a-seized", W.withEDNS("www.evil.example")),
        ("edns-do-cookie-option", W.withEDNS("evil.example", opt: W.opt(
            flags: 0x8000, options: [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]))),
        ("edns-4096-many", W.withEDNS("many.example", opt: W.opt(size: 4096))),
        ("edns-600-many-aaaa", W.withEDNS("many.example", type: DNSRecordType.aaaa, opt: W.opt(size: 600))),
        ("edns-size-below-512", W.withEDNS("many.example", opt: W.opt(size: 100))),
        ("edns-version-1", W.withEDNS("evil.example", opt: W.opt(version: 1))),
        ("edns-extended-rcode-set", W.withEDNS("evil.example", opt: W.opt(extendedRcode: 7, flags: 0x7FFF))),
        ("edns-padding-and-unknown", W.withEDNS("www.example.com", opt: W.opt(
            options: [0, 12, 0, 4, 0, 0, 0, 0, 0xFD, 0xE9, 0, 0]))),
        ("edns-option-overrun", W.withEDNS("evil.example", opt: W.opt(options: [0, 10, 0, 9, 1, 2]))),
        ("edns-option-short-header", W.withEDNS("evil.example", opt: W.opt(options: [0, 10, 0]))),
        ("edns-rdlength-overrun", bytes(W.header(ar: 1), W.name("evil.example"), aIN,
                                        [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 40])),
        ("edns-two-opts", bytes(W.header(ar: 2), W.name("evil.example"), aIN, W.opt, W.opt)),
        ("edns-opt-in-answer", bytes(W.header(an: 1), W.name("evil.example"), aIN, W.opt)),
        ("edns-opt-not-root", bytes(W.header(ar: 1), W.name("evil.example"), aIN, W.opt(owner: [0xC0, 12]))),
        ("edns-after-other-record", bytes(W.header(ar: 2), W.name("evil.example"), aIN,
                                          [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 3, 2, 0x68, 0x69], W.opt)),
    ]

    /// Compression pointers (RFC 1035 §4.1.4): followed, and every way they go wrong.
    static let compression: [Seed] = [
        // The question name is a pointer chain through the header's counts (12 → 10 → 8 → 6),
        // ending at the zero ID byte, read as the root label.
        ("pointer-chain-through-header", [0, 0, 0, 0, 0, 1, 0xC0, 0, 0xC0, 6, 0xC0, 8, 0xC0, 10, 0, 1, 0, 1]),
        ("pointer-self-loop", bytes(W.header(), [0xC0, 12], aIN)),
        ("pointer-forward", bytes(W.header(), [0xC0, 14, 0], aIN)),
        ("pointer-out-of-range", bytes(W.header(), [0xFF, 0xFF], aIN)),
        ("pointer-into-own-labels", bytes(W.header(), [3, 0x77, 0x77, 0x77, 0xC0, 12], aIN)),
        ("pointer-in-answer-owner", bytes(W.header(an: 1), W.name("evil.example"), aIN,
                                          [3, 0x77, 0x77, 0x77, 0xC0, 12], aRecordAfterOwner)),
        ("pointer-truncated", bytes(W.header(), [0xC0])),
        // The 17th record's owner takes 17 hops, one more than readName follows.
        ("pointer-too-many-hops", bytes(W.header(an: 17), W.name("evil.example"), aIN, pointerChain(17))),
    ]

    /// Truncations, counts and label types the parser must refuse without trapping.
    static let malformed: [Seed] = [
        ("empty", []),
        ("header-short-11", Array(W.header().prefix(11))),
        ("header-only", W.header()),
        ("response-bit", W.make("evil.example", flags: 0x8100)),
        ("qdcount-0", bytes(W.header(qd: 0), W.name("evil.example"), aIN)),
        ("qdcount-2", bytes(W.header(qd: 2), W.name("evil.example"), aIN, W.name("x.evil.example"), aIN)),
        ("qdcount-0-opcode-5", W.header(flags: 0x2800, qd: 0)),
        ("name-truncated", Array(W.make("www.evil.example").prefix(20))),
        ("name-no-root", bytes(W.header(), [3, 0x77, 0x77, 0x77])),
        ("qtype-truncated", Array(W.make("evil.example").dropLast(3))),
        ("label-type-01", bytes(W.header(), [0x41, 0x61, 0x61, 0x61, 0x61, 0], aIN)),
        ("label-type-10", bytes(W.header(), [0x80, 0x61, 0], aIN)),
        ("name-256-octets", W.make(longName([63, 63, 63, 49]))),
        ("arcount-lies", bytes(W.header(ar: 3), W.name("evil.example"), aIN, W.opt)),
        ("ancount-max", bytes(W.header(an: 0xFFFF), W.name("evil.example"), aIN)),
        ("trailing-garbage", bytes(W.make("evil.example"), [0xDE, 0xAD, 0xBE, 0xEF])),
    ]

    /// Streams for the TCP frame decoder: length-prefixed messages, pipelined and broken.
    static let framing: [Seed] = [
        ("tcp-two-pipelined", bytes(framed(W.make("evil.example", id: 1)), framed(W.withEDNS("many.example", id: 2)))),
        ("tcp-zero-length-then-query", bytes([0, 0], framed(W.make("evil.example")))),
        ("tcp-partial-frame", Array(framed(W.make("evil.example")).dropLast(5))),
        ("tcp-prefix-only", [0x01]),
    ]

    /// A message with its two-byte length prefix (RFC 1035 §4.2.2).
    static func framed(_ message: [UInt8]) -> [UInt8] { W.u16(UInt16(message.count)) + message }

    /// Labels of these lengths under evil.example.
    static func longName(_ labelLengths: [Int]) -> String {
        (labelLengths.map { String(repeating: "n", count: $0) } + ["evil", "example"]).joined(separator: ".")
    }

    /// `count` answer records of 12 bytes (no RDATA) from offset 30, right after a question
    /// for evil.example, each owned by a pointer to the one before, the first by a pointer
    /// to the question name: the owner of record k takes k + 1 hops.
    static func pointerChain(_ count: Int) -> [UInt8] {
        (0..<count).flatMap { k -> [UInt8] in
            let target = UInt8(k == 0 ? 12 : 30 + 12 * (k - 1))
            return [0xC0, target, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
        }
    }
}
