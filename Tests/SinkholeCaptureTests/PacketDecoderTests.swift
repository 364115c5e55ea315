import SinkholeCapture
import SinkholeCore
import Testing

/// Decodes `frame` of `link` (a test's array, borrowed for the call).
func decode(_ frame: [UInt8], _ link: LinkType) -> PacketDecoder.Result {
    frame.withUnsafeBytes { PacketDecoder.decode(PacketBytes($0), link: link) }
}

func packet(_ result: PacketDecoder.Result, sourceLocation: SourceLocation = #_sourceLocation) -> DecodedPacket? {
    guard case .packet(let packet) = result else {
        Issue.record("expected a packet, got \(result)", sourceLocation: sourceLocation)
        return nil
    }
    return packet
}

@Suite("PacketDecoder: frames of every link type down to the transport header")
struct PacketDecoderTests {
    static let syn4 = TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 6, TestFrame.tcp(40000, 8443, flags: TestFrame.syn))
    static let syn6 = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(40001, 8443, flags: TestFrame.syn))

    static let framings: [(String, LinkType, @Sendable ([UInt8]) -> [UInt8])] = [
        ("EN10MB", .ethernet, { TestFrame.ethernet(ip: $0) }),
        ("EN10MB 802.1Q", .ethernet, { TestFrame.ethernet(ip: $0, tags: [0x8100]) }),
        ("EN10MB QinQ 802.1ad", .ethernet, { TestFrame.ethernet(ip: $0, tags: [0x88a8, 0x8100]) }),
        ("LINUX_SLL", .linuxSLL, TestFrame.sll),
        ("LINUX_SLL2", .linuxSLL2, TestFrame.sll2),
        ("RAW", .raw, { $0 }),
        ("NULL host order", .loopback, { TestFrame.loopback($0) }),
        ("LOOP network order", .loopback, { TestFrame.loopback($0, bigEndian: true) }),
        ("NULL Linux AF_INET6", .loopback, { TestFrame.loopback($0, family: $0.first! >> 4 == 6 ? 10 : 2) }),
    ]

    @Test("a TCP SYN over IPv4 and IPv6 decodes the same under every framing", arguments: 0..<9)
    func everyFraming(index: Int) throws {
        let (name, link, frame) = Self.framings[index]
        let four = try #require(packet(decode(frame(Self.syn4), link)), "\(name)")
        #expect(four.source == IPAddress("198.51.100.66")! && four.destination == IPAddress("198.51.100.10")!, "\(name)")
        #expect(four.transport == .tcp && four.sourcePort == 40000 && four.destinationPort == 8443, "\(name)")
        #expect(four.tcpFlags == TCPFlags.syn, "\(name)")
        let six = try #require(packet(decode(frame(Self.syn6), link)), "\(name)")
        #expect(six.source == IPAddress("2001:db8::66")! && six.destination == IPAddress("2001:db8::10")!, "\(name)")
        #expect(six.sourcePort == 40001 && six.destinationPort == 8443, "\(name)")
    }

    @Test("LINKTYPE_IPV4 and LINKTYPE_IPV6 take only their own version")
    func versionLinkTypes() {
        #expect(packet(decode(Self.syn4, .ipv4)) != nil)
        #expect(packet(decode(Self.syn6, .ipv6)) != nil)
        #expect(decode(Self.syn6, .ipv4) == .undecodable(.badIPVersion))
        #expect(decode(Self.syn4, .ipv6) == .undecodable(.badIPVersion))
    }

    @Test("libpcap link type numbers: both DLT_RAW values and LINKTYPE_RAW, NULL and LOOP, and unknown ones refused")
    func linkTypeNumbers() {
        #expect(LinkType(dlt: 12) == .raw && LinkType(dlt: 14) == .raw && LinkType(dlt: 101) == .raw)
        #expect(LinkType(dlt: 0) == .loopback && LinkType(dlt: 108) == .loopback)
        #expect(LinkType(dlt: 1) == .ethernet && LinkType(dlt: 113) == .linuxSLL && LinkType(dlt: 276) == .linuxSLL2)
        #expect(LinkType(dlt: 228) == .ipv4 && LinkType(dlt: 229) == .ipv6)
        #expect(LinkType(dlt: 105) == nil)  // IEEE 802.11
        #expect(LinkType(dlt: 127) == nil)  // radiotap
    }

    @Test("IPv4 options are skipped; UDP, ICMP and the payload's bounds (Ethernet padding cut) come through")
    func ipv4Details() throws {
        let options: [UInt8] = [0x94, 0x04, 0, 0, 1, 1, 1, 0]  // router alert, NOPs, end
        let udp = TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 17, TestFrame.udp(5353, 53, payload: [1, 2, 3]), options: options)
        let padded = TestFrame.ethernet(ip: udp) + [0, 0, 0, 0, 0, 0]
        let p = try #require(packet(decode(padded, .ethernet)))
        #expect(p.transport == .udp && p.sourcePort == 5353 && p.destinationPort == 53)
        #expect(p.payload == (14 + 28 + 8)..<(14 + 28 + 11))
        let echo = try #require(packet(decode(TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 1, TestFrame.icmp(type: 8)), .raw)))
        #expect(echo.transport == .icmp && echo.icmpType == 8 && echo.icmpCode == 0 && echo.isEchoRequest)
        let reply = try #require(packet(decode(TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 1, TestFrame.icmp(type: 0)), .raw)))
        #expect(!reply.isEchoRequest)
        let echo6 = try #require(packet(decode(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 58, TestFrame.icmp(type: 128)), .raw)))
        #expect(echo6.isEchoRequest && echo6.icmpType == 128)
    }

    @Test("IPv4 fragments: the first is decoded (its ports), later ones counted as later_fragment")
    func ipv4Fragments() throws {
        let first = TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 17,
                                   TestFrame.udp(5353, 53, payload: Array(repeating: 7, count: 16), length: 3000), moreFragments: true)
        let p = try #require(packet(decode(first, .raw)))
        #expect(p.firstFragment && p.destinationPort == 53 && p.payload.count == 16)
        let later = TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 17, Array(repeating: 7, count: 24), fragmentOffset: 185)
        #expect(decode(later, .raw) == .undecodable(.laterFragment))
        let last = TestFrame.ipv4("198.51.100.66", "198.51.100.10", proto: 17, Array(repeating: 7, count: 24),
                                  fragmentOffset: 185, moreFragments: true)
        #expect(decode(last, .raw) == .undecodable(.laterFragment))
    }

    @Test("IPv6: hop-by-hop, routing, destination options and fragment headers walked to the transport")
    func ipv6ExtensionChain() throws {
        let chain: [TestFrame.Extension] = [.hopByHop, .routing, .destinationOptions, .fragment(offset: 0, more: true), .destinationOptions]
        let frame = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17, TestFrame.udp(5353, 53, payload: [9, 9]), extensions: chain)
        let p = try #require(packet(decode(frame, .raw)))
        #expect(p.transport == .udp && p.destinationPort == 53 && p.firstFragment)
        #expect(p.payload == (40 + 40 + 8)..<(40 + 40 + 10))
        let later = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17, [1, 2, 3, 4, 5, 6, 7, 8],
                                   extensions: [.hopByHop, .fragment(offset: 100, more: false)])
        #expect(decode(later, .raw) == .undecodable(.laterFragment))
        let long = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn),
                                  extensions: Array(repeating: .destinationOptions, count: PacketDecoder.maximumExtensionHeaders + 1))
        #expect(decode(long, .raw) == .undecodable(.extensionChainTooLong))
        let most = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn),
                                  extensions: Array(repeating: .destinationOptions, count: PacketDecoder.maximumExtensionHeaders))
        #expect(packet(decode(most, .raw)) != nil)
        // "No next header" (59) carries nothing the sinkhole logs.
        #expect(decode(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 59, []), .raw) == .undecodable(.otherTransport))
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        let name: String
        let frame: [UInt8]
        let link: LinkType
        let reason: Undecodable
        var testDescription: String { name }
    }

    static let v4 = "198.51.100.66", v4b = "198.51.100.10", v6 = "2001:db8::66", v6b = "2001:db8::10"

    static func malformedCases() -> [Malformed] {
        var cases: [Malformed] = []
        func add(_ name: String, _ frame: [UInt8], _ link: LinkType, _ reason: Undecodable) {
            cases.append(Malformed(name: name, frame: frame, link: link, reason: reason))
        }
        add("Ethernet shorter than its header", TestFrame.ethernet(ip: syn4).prefix(13).map { $0 }, .ethernet, .truncatedLinkHeader)
        add("a VLAN tag cut short", Array(TestFrame.ethernet(ip: syn4, tags: [0x8100]).prefix(16)), .ethernet, .truncatedLinkHeader)
        add("five stacked VLAN tags", TestFrame.ethernet(ip: syn4, tags: Array(repeating: 0x8100, count: 5)), .ethernet, .tooManyVLANTags)
        add("ARP", TestFrame.ethernet(Array(repeating: 0, count: 28), etherType: 0x0806), .ethernet, .notIP)
        add("SLL shorter than its header", Array(TestFrame.sll(syn4).prefix(15)), .linuxSLL, .truncatedLinkHeader)
        add("SLL2 shorter than its header", Array(TestFrame.sll2(syn4).prefix(19)), .linuxSLL2, .truncatedLinkHeader)
        add("loopback family 99", TestFrame.loopback(syn4, family: 99), .loopback, .notIP)
        add("loopback shorter than its family", [2, 0], .loopback, .truncatedLinkHeader)
        add("IP version 5", [0x50] + syn4.dropFirst(), .raw, .badIPVersion)
        add("empty raw frame", [], .raw, .truncatedIPHeader)
        add("IPv4 header cut at 19 bytes", Array(syn4.prefix(19)), .raw, .truncatedIPHeader)
        add("IPv4 IHL 4", TestFrame.ipv4(v4, v4b, proto: 6, TestFrame.tcp(1, 2, flags: 2), headerWords: 4), .raw, .badIPHeaderLength)
        add("IPv4 total length under its header", TestFrame.ipv4(v4, v4b, proto: 6, TestFrame.tcp(1, 2, flags: 2), totalLength: 19), .raw, .badIPHeaderLength)
        add("IPv4 IHL past the captured bytes", Array(TestFrame.ipv4(v4, v4b, proto: 6, [], options: Array(repeating: 1, count: 40)).prefix(30)), .raw, .truncatedIPHeader)
        add("IPv6 header cut at 39 bytes", Array(syn6.prefix(39)), .raw, .truncatedIPHeader)
        add("IPv6 extension header past the payload", Array(TestFrame.ipv6(v6, v6b, proto: 6, [], extensions: [.hopByHop]).prefix(44)), .raw, .truncatedExtensionHeader)
        add("GRE", TestFrame.ipv4(v4, v4b, proto: 47, [0, 0, 8, 0]), .raw, .otherTransport)
        add("ICMPv6 inside IPv4", TestFrame.ipv4(v4, v4b, proto: 58, TestFrame.icmp(type: 128)), .raw, .otherTransport)
        add("TCP header cut at 19 bytes", Array(syn4.prefix(39)), .raw, .truncatedTransportHeader)
        add("TCP data offset 4", TestFrame.ipv4(v4, v4b, proto: 6, TestFrame.tcp(1, 2, flags: 2, dataOffsetWords: 4) + [0, 0, 0, 0]), .raw, .badTransportHeader)
        add("TCP options past the captured bytes", Array(TestFrame.ipv4(v4, v4b, proto: 6, TestFrame.tcp(1, 2, flags: 2, dataOffsetWords: 15)).prefix(50)), .raw, .truncatedTransportHeader)
        add("UDP length 7", TestFrame.ipv4(v4, v4b, proto: 17, TestFrame.udp(1, 53, length: 7)), .raw, .badTransportHeader)
        add("UDP header cut", Array(TestFrame.ipv4(v4, v4b, proto: 17, TestFrame.udp(1, 53)).prefix(27)), .raw, .truncatedTransportHeader)
        add("ICMP header cut", Array(TestFrame.ipv4(v4, v4b, proto: 1, TestFrame.icmp(type: 8)).prefix(23)), .raw, .truncatedTransportHeader)
        return cases
    }

    @Test("malformed frames are counted by their reason", arguments: malformedCases())
    func malformed(_ c: Malformed) {
        #expect(decode(c.frame, c.link) == .undecodable(c.reason), "\(c.name)")
    }

    @Test("every prefix of every test frame decodes or is refused, never reads past its end")
    func everyPrefix() {
        let frames: [([UInt8], LinkType)] = Self.framings.flatMap { framing in
            [(framing.2(Self.syn4), framing.1), (framing.2(Self.syn6), framing.1)]
        } + [
            (TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17, TestFrame.udp(1, 53, payload: [1]),
                            extensions: [.hopByHop, .routing, .fragment(offset: 0, more: true)]), .raw),
        ]
        var outcomes = 0
        for (frame, link) in frames {
            for length in 0...frame.count {
                // An array of exactly `length` bytes: a read past it would trap in a debug build.
                let prefix = Array(frame.prefix(length))
                _ = decode(prefix, link)
                outcomes += 1
            }
        }
        #expect(outcomes > 500)
    }
}
