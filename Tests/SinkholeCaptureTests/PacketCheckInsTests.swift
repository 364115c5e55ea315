import Foundation
import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

enum CaptureFixtures {
    static let sinkhole = IPAddress("198.51.100.10")!
    static let sinkhole6 = IPAddress("2001:db8::10")!
    static let seized = IPAddress("203.0.113.7")!
    static let bot = "198.51.100.66"

    static func checkIns() throws -> PacketCheckIns {
        let zones = try SeizedZones(families: [SeizedFamily(name: "rustock", domains: ["cc.botnet.example"], answers: [sinkhole])])
        return PacketCheckIns(sinkholeAddresses: [sinkhole, sinkhole6],
                              targets: SeizedTargets(zones: zones, addresses: [seized: "conficker"]))
    }

    static func checkIn(_ frame: [UInt8], _ link: LinkType = .raw, time: UTCTime = UTCTime(seconds: 1_750_000_000)) throws -> CheckIn? {
        let checkIns = try checkIns()
        return frame.withUnsafeBytes { raw -> CheckIn? in
            let bytes = PacketBytes(raw)
            guard case .packet(let packet) = PacketDecoder.decode(bytes, link: link) else { return nil }
            return checkIns.checkIn(packet, bytes: bytes, time: time)
        }
    }
}

@Suite("PacketCheckIns: which packets are check-ins, with the detail the responders log")
struct PacketCheckInsTests {
    typealias F = CaptureFixtures

    @Test("a SYN to a sinkhole address is a packet check-in with its flags, ports, addresses and time")
    func syn() throws {
        let frame = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 4444, flags: TestFrame.syn))
        let c = try #require(try F.checkIn(frame, time: UTCTime(seconds: 1_750_000_000, microseconds: 123_456)))
        #expect(c.service == .packet && c.transport == .tcp)
        #expect(c.source == IPAddress(F.bot)! && c.sourcePort == 40000)
        #expect(c.destination == F.sinkhole && c.destinationPort == 4444)
        #expect(c.tcpFlags == TCPFlags.syn && c.family.isEmpty)
        #expect(c.time == UTCTime(seconds: 1_750_000_000, microseconds: 123_456))
    }

    @Test("a SYN to a seized address is labelled with the address's family")
    func seizedAddress() throws {
        let frame = TestFrame.ipv4(F.bot, "203.0.113.7", proto: 6, TestFrame.tcp(40000, 25, flags: TestFrame.syn))
        let c = try #require(try F.checkIn(frame))
        #expect(String(decoding: c.family.withBytes { Array($0) }, as: UTF8.self) == "conficker")
    }

    @Test("SYN-ACK, bare ACK, RST, answers from the sinkhole and packets to other hosts are not check-ins")
    func notCheckIns() throws {
        for (flags, what) in [(TestFrame.syn | TestFrame.ack, "SYN-ACK"), (TestFrame.ack, "ACK"), (0x04 as UInt8, "RST")] {
            let frame = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 4444, flags: flags))
            #expect(try F.checkIn(frame) == nil, "\(what)")
        }
        let answer = TestFrame.ipv4("198.51.100.10", F.bot, proto: 17, TestFrame.udp(53, 5353, payload: [0]))
        #expect(try F.checkIn(answer) == nil)
        let elsewhere = TestFrame.ipv4(F.bot, "198.51.100.99", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn))
        #expect(try F.checkIn(elsewhere) == nil)
        let echoReply = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 1, TestFrame.icmp(type: 0))
        #expect(try F.checkIn(echoReply) == nil)
        // Data to a port other than 80 is not parsed as HTTP and is no check-in of its own.
        let data = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6,
                                  TestFrame.tcp(40000, 8080, flags: TestFrame.psh | TestFrame.ack, payload: TestFrame.httpRequest(host: "x")))
        #expect(try F.checkIn(data) == nil)
    }

    @Test("a UDP datagram to port 53 carries qname, qtype and the family of the seized name")
    func dnsQuery() throws {
        let frame = TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17,
                                   TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("Host.CC.botnet.example", type: 28)))
        let c = try #require(try F.checkIn(frame))
        #expect(c.transport == .udp && c.service == .packet && c.destinationPort == 53)
        #expect(String(decoding: c.name.withBytes { Array($0) }, as: UTF8.self) == "Host.CC.botnet.example")
        #expect(c.dnsType == 28 && c.dnsRcode == CheckIn.noResponse)
        #expect(String(decoding: c.family.withBytes { Array($0) }, as: UTF8.self) == "rustock")
        // Not a query: still a datagram check-in, without DNS detail.
        let junk = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 17, TestFrame.udp(5353, 53, payload: [1, 2, 3]))
        let j = try #require(try F.checkIn(junk))
        #expect(j.name.isEmpty && j.dnsType == 0)
    }

    @Test("one reader's reused DNS buffers give each datagram its own name, long after short and short after long")
    func dnsBuffersReused() throws {
        var reader = CaptureReader(dlt: 101, checkIns: try F.checkIns())
        let names = ["a.cc.botnet.example", String(repeating: "x", count: 60) + ".long.example", "b.example", "cc.botnet.example"]
        for (i, name) in names.enumerated() {
            let frame = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 17,
                                       TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery(name, type: UInt16(i + 1))))
            let c = try #require(frame.withUnsafeBytes { reader.read(PacketBytes($0), time: UTCTime(seconds: 1)) })
            #expect(String(decoding: c.name.withBytes { Array($0) }, as: UTF8.self) == name && c.dnsType == UInt16(i + 1))
            #expect(c.family.isEmpty == !name.hasSuffix("cc.botnet.example"))
        }
        #expect(reader.counts.events == 4)
    }

    @Test("the first data segment to TCP/80 carries method, path, Host, User-Agent and the Host's family")
    func httpRequest() throws {
        let frame = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6,
                                   TestFrame.tcp(40000, 80, flags: TestFrame.psh | TestFrame.ack,
                                                 payload: TestFrame.httpRequest(host: "cc.botnet.example")))
        let c = try #require(try F.checkIn(frame))
        func text<let n: Int>(_ b: BoundedBytes<n>) -> String { String(decoding: b.withBytes { Array($0) }, as: UTF8.self) }
        #expect(text(c.httpMethod) == "GET" && text(c.httpPath) == "/gate.php?id=42" && c.httpVersion == 11)
        #expect(text(c.name) == "cc.botnet.example" && text(c.httpUserAgent) == "bot/1.0")
        #expect(text(c.family) == "rustock" && c.tcpFlags == TCPFlags.psh | TCPFlags.ack)
        // A head split over segments: the first segment's fields are kept.
        let split = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6,
                                   TestFrame.tcp(40000, 80, flags: TestFrame.ack, payload: Array("POST /p HTTP/1.0\r\nHost: a.example\r\nUser-Ag".utf8)))
        let s = try #require(try F.checkIn(split))
        #expect(text(s.httpMethod) == "POST" && text(s.name) == "a.example" && s.httpUserAgent.isEmpty)
        // A later segment (a body, TLS) is not a request line.
        let body = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.ack, payload: [0x16, 3, 1, 0, 5]))
        #expect(try F.checkIn(body) == nil)
    }

    @Test("an ICMP or ICMPv6 echo request is a check-in with its type and code")
    func echo() throws {
        let c = try #require(try F.checkIn(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 1, TestFrame.icmp(type: 8))))
        #expect(c.transport == .icmp && c.icmpType == 8 && c.icmpCode == 0 && c.sourcePort == 0 && c.destinationPort == 0)
        let six = try #require(try F.checkIn(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 58, TestFrame.icmp(type: 128))))
        #expect(six.icmpType == 128)
    }

    @Test("read into a ring slot that holds an older event, every kind of check-in comes out as it does read fresh, and a packet that is none leaves nothing to publish")
    func readIntoUsedSlot() throws {
        let frames: [[UInt8]] = [
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 4444, flags: TestFrame.syn)),
            TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17,
                           TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("Host.CC.botnet.example", type: 28))),
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 17, TestFrame.udp(5353, 53, payload: [1, 2, 3])),
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6,
                           TestFrame.tcp(40000, 80, flags: TestFrame.psh | TestFrame.ack, payload: TestFrame.httpRequest(host: "cc.botnet.example"))),
            TestFrame.ipv4(F.bot, "203.0.113.7", proto: 1, TestFrame.icmp(type: 8)),
        ]
        // The slot's last event: every detail field set, as a TLS responder's check-in has them.
        var older = try #require(try F.checkIn(frames[3]))
        older.tlsServerName = BoundedBytes("old.example"); older.tlsCompleted = true; older.tlsCipher = 0x1301
        older.firstBytes = BoundedBytes([0x16, 3, 1]); older.httpBodyDigest = BoundedBytes([UInt8](repeating: 7, count: 32))
        older.httpStatus = 200; older.rateLimited = true; older.requestIndex = 3; older.redirected = true
        older.listenerPort = 8443; older.service = .tls; older.dnsType = 16; older.dnsRcode = 3
        var reader = CaptureReader(dlt: 101, checkIns: try F.checkIns())
        for frame in frames {
            let fresh = try #require(try F.checkIn(frame))
            var slot = older
            #expect(frame.withUnsafeBytes { reader.read(PacketBytes($0), time: UTCTime(seconds: 1_750_000_000), into: &slot) })
            // Every stored field, by reflection, so a field added to CheckIn later is compared too.
            #expect("\(slot)" == "\(fresh)")
        }
        let none = TestFrame.ipv4(F.bot, "198.51.100.99", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn))
        var slot = older
        #expect(!none.withUnsafeBytes { reader.read(PacketBytes($0), time: UTCTime(seconds: 1), into: &slot) })
        #expect(reader.counts.events == frames.count && reader.counts.packets == frames.count + 1)
    }

    @Test("read into a full ring: each event is counted as dropped by the reader and the ring, a packet that is none is not, and what got a slot is kept")
    func readIntoFullRing() throws {
        let syn = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 4444, flags: TestFrame.syn))
        let query = TestFrame.ipv4(F.bot, "198.51.100.10", proto: 17,
                                   TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("a.cc.botnet.example")))
        let none = TestFrame.ipv4(F.bot, "198.51.100.99", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn))
        let ring = EventRing<CheckIn>(name: "capture-test", minimumCapacity: 1, filler: CheckIn.empty)
        var reader = CaptureReader(dlt: 101, checkIns: try F.checkIns())
        var overflow = CheckIn.empty
        for frame in [syn, query, none, query] {
            frame.withUnsafeBytes { reader.read(PacketBytes($0), time: UTCTime(seconds: 1), into: ring, overflow: &overflow) }
        }
        #expect(reader.counts.packets == 4 && reader.counts.events == 3 && reader.counts.dropped == 2)
        #expect(ring.counts == EventRing.Counts(accepted: 1, dropped: 2, consumed: 0))
        let kept = try #require(ring.pop())
        #expect(kept.destinationPort == 4444 && kept.tcpFlags == TCPFlags.syn)
        // Room again: the next event gets the slot, built whole over the SYN.
        query.withUnsafeBytes { reader.read(PacketBytes($0), time: UTCTime(seconds: 2), into: ring, overflow: &overflow) }
        let next = try #require(ring.pop())
        let fresh = try #require(try F.checkIn(query, time: UTCTime(seconds: 2)))
        #expect("\(next)" == "\(fresh)")
    }

    @Test("the default filter names every address, with and without a VLAN tag")
    func defaultFilter() {
        #expect(CaptureFilter.default(addresses: [F.sinkhole6, F.sinkhole]) ==
                "(dst host 198.51.100.10 or dst host 2001:db8::10) or (vlan and (dst host 198.51.100.10 or dst host 2001:db8::10))")
        #expect(CaptureFilter.default(addresses: []) == nil)
    }
}
