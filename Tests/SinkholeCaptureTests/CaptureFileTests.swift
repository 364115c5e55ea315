import Foundation
import SinkholeCapture
import SinkholeCore
import Testing

/// pcaps the tests write, read back through libpcap with exact counts.
@Suite("CaptureFile: pcap files read through libpcap, every packet counted")
struct CaptureFileTests {
    typealias F = CaptureFixtures

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-capture-\(UUID().uuidString)-\(name)")
    }

    /// Reads `writer`'s bytes as a file; returns the summary and the check-ins pushed.
    static func read(_ writer: PcapTestWriter, filter: String? = nil,
                     shouldStop: () -> Bool = { false }) throws -> (CaptureFile.Summary, [CheckIn]) {
        let url = temporaryFile("test.pcap")
        try writer.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: 1024,
                                      filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        let summary = CaptureFile.read(path: url.path, fileBytes: writer.bytes.count, checkIns: try F.checkIns(), ring: ring,
                                       filter: filter, shouldStop: shouldStop)
        var events: [CheckIn] = []
        ring.drain { events.append($0) }
        return (summary, events)
    }

    /// The mixed traffic each link type's file carries: 4 check-ins (SYN, DNS query, HTTP first
    /// segment, echo request) and 3 decoded packets that are not (SYN-ACK from the sinkhole,
    /// ACK, a SYN elsewhere), then 2 undecodable (a later fragment, a truncated TCP header).
    static func traffic(_ frame: ([UInt8]) -> [UInt8]) -> [[UInt8]] {
        [
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.syn)),
            TestFrame.ipv4("198.51.100.10", F.bot, proto: 6, TestFrame.tcp(80, 40000, flags: TestFrame.syn | TestFrame.ack)),
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.ack)),
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.psh | TestFrame.ack,
                                                                          payload: TestFrame.httpRequest(host: "cc.botnet.example"))),
            TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 17, TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("cc.botnet.example")),
                           extensions: [.hopByHop, .destinationOptions]),
            TestFrame.ipv4(F.bot, "203.0.113.7", proto: 1, TestFrame.icmp(type: 8)),
            TestFrame.ipv4(F.bot, "198.51.100.99", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)),
            TestFrame.ipv4(F.bot, "198.51.100.10", proto: 17, Array(repeating: 0, count: 16), fragmentOffset: 100),
            Array(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)).prefix(30)),
        ].map(frame)
    }

    static let linkTypes: [(String, UInt32, @Sendable ([UInt8]) -> [UInt8])] = [
        ("EN10MB", 1, { TestFrame.ethernet(ip: $0) }),
        ("EN10MB 802.1Q", 1, { TestFrame.ethernet(ip: $0, tags: [0x8100]) }),
        ("EN10MB QinQ", 1, { TestFrame.ethernet(ip: $0, tags: [0x88a8, 0x8100]) }),
        ("LINUX_SLL", 113, TestFrame.sll),
        ("LINUX_SLL2", 276, TestFrame.sll2),
        ("DLT_RAW 12", 12, { $0 }),
        ("DLT_RAW 14", 14, { $0 }),
        ("LINKTYPE_RAW 101", 101, { $0 }),
        ("NULL", 0, { TestFrame.loopback($0) }),
        ("LOOP", 108, { TestFrame.loopback($0, bigEndian: true) }),
    ]

    @Test("every supported link type: the same counts and check-ins", arguments: 0..<10)
    func everyLinkType(index: Int) throws {
        let (name, dlt, frame) = Self.linkTypes[index]
        var writer = PcapTestWriter(linkType: dlt)
        for (i, f) in Self.traffic(frame).enumerated() { writer.add(f, seconds: 1_750_000_000 + UInt32(i), microseconds: 250) }
        let (summary, events) = try Self.read(writer)
        #expect(summary.failure == nil, "\(name): \(String(describing: summary.failure))")
        #expect(summary.linkTypeSupported, "\(name)")
        let c = summary.counts
        #expect(c.packets == 9 && c.decoded == 7 && c.events == 4 && c.undecodable == 2 && c.dropped == 0, "\(name): \(c)")
        #expect(c[.laterFragment] == 1 && c[.truncatedTransportHeader] == 1, "\(name)")
        #expect(events.map(\.transport) == [.tcp, .tcp, .udp, .icmp], "\(name)")
        #expect(events.map(\.time) == [0, 3, 4, 5].map { UTCTime(seconds: 1_750_000_000 + $0, microseconds: 250) }, "\(name)")
        #expect(events[1].httpMethod.withBytes { Array($0) } == Array("GET".utf8), "\(name)")
        #expect(events[2].dnsType == 1 && events[2].name.withBytes { Array($0) } == Array("cc.botnet.example".utf8), "\(name)")
    }

    @Test("a pcapng file with nanosecond timestamps: read the same, event times in microseconds")
    func pcapng() throws {
        var writer = PcapNGTestWriter(linkType: 1)
        for (i, f) in Self.traffic({ TestFrame.ethernet(ip: $0, tags: [0x8100]) }).enumerated() {
            writer.add(f, nanoseconds: UInt64(1_750_000_000 + i) * 1_000_000_000 + 250_999)
        }
        let url = Self.temporaryFile("test.pcapng")
        try writer.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: 64,
                                      filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        let summary = CaptureFile.read(path: url.path, fileBytes: writer.bytes.count, checkIns: try F.checkIns(), ring: ring)
        #expect(summary.failure == nil && summary.linkTypeName == "EN10MB", "\(String(describing: summary.failure))")
        #expect(summary.counts.packets == 9 && summary.counts.decoded == 7 && summary.counts.events == 4)
        var times: [UTCTime] = []
        ring.drain { times.append($0.time) }
        #expect(times == [0, 3, 4, 5].map { UTCTime(seconds: 1_750_000_000 + $0, microseconds: 250) })
    }

    @Test("LINKTYPE_IPV4 and LINKTYPE_IPV6 files")
    func versionLinkTypes() throws {
        var four = PcapTestWriter(linkType: 228)
        four.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)), seconds: 1)
        four.add(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)), seconds: 2)
        let (s4, e4) = try Self.read(four)
        #expect(s4.counts.events == 1 && s4.counts[.badIPVersion] == 1 && e4.count == 1)
        var six = PcapTestWriter(linkType: 229)
        six.add(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)), seconds: 1)
        let (s6, e6) = try Self.read(six)
        #expect(s6.counts.events == 1 && e6.first?.source == IPAddress("2001:db8::66")!)
    }

    @Test("a link type the decoder does not read: every packet counted as skipped, the file still read")
    func unsupportedLinkType() throws {
        var writer = PcapTestWriter(linkType: 105)  // IEEE 802.11
        writer.add([1, 2, 3, 4], seconds: 1)
        writer.add([5, 6, 7, 8], seconds: 2)
        let (summary, events) = try Self.read(writer)
        #expect(summary.failure == nil && !summary.linkTypeSupported && summary.linkTypeName == "IEEE802_11")
        #expect(summary.counts.packets == 2 && summary.counts.skippedLinkType == 2 && events.isEmpty)
    }

    @Test("a truncated last record ends the file: what came before is kept, the failure names libpcap's call")
    func truncatedLastRecord() throws {
        var writer = PcapTestWriter(linkType: 101)
        for i in 0..<3 { writer.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000 + UInt16(i), 80, flags: TestFrame.syn)), seconds: UInt32(i)) }
        writer.dropLast(5)
        let (summary, events) = try Self.read(writer)
        #expect(summary.counts.packets == 2 && events.count == 2)
        let failure = try #require(summary.failure)
        #expect(failure.call == "pcap_next_ex" && failure.message.contains("truncated"), "\(failure)")
    }

    @Test("a bogus record length ends the file cleanly after the records before it")
    func bogusRecordLength() throws {
        var writer = PcapTestWriter(linkType: 101)
        writer.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.syn)), seconds: 1)
        writer.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40001, 80, flags: TestFrame.syn)), seconds: 2,
                   capturedLength: 0xffff_fff0)
        writer.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(40002, 80, flags: TestFrame.syn)), seconds: 3)
        let (summary, events) = try Self.read(writer)
        #expect(summary.counts.packets == 1 && events.count == 1)
        #expect(summary.failure != nil)
    }

    @Test("a missing file, a file that is not a capture, a truncated file header: the failure names pcap_open_offline")
    func unreadable() throws {
        let (missing, _) = (CaptureFile.read(path: "/nonexistent/sinkhole.pcap", fileBytes: 0, checkIns: try F.checkIns(),
                                             ring: EventRing(name: "t", minimumCapacity: 4, filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0, transport: .udp, service: .packet))), 0)
        #expect(missing.failure?.call == "pcap_open_offline" && missing.failure?.message.contains("No such file") == true)
        var writer = PcapTestWriter(linkType: 1)
        writer.dropLast(10)
        let (short, _) = try Self.read(writer)
        #expect(short.failure?.call == "pcap_open_offline" && short.counts.packets == 0, "\(String(describing: short.failure))")
        let url = Self.temporaryFile("text.pcap")
        try Data("not a capture at all, just text\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let ring = EventRing<CheckIn>(name: "t", minimumCapacity: 4, filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        let text = CaptureFile.read(path: url.path, fileBytes: 32, checkIns: try F.checkIns(), ring: ring)
        #expect(text.failure?.description.hasPrefix("pcap_open_offline: ") == true, "\(String(describing: text.failure))")
    }

    @Test("filters compile, and a bad one is refused naming pcap_compile")
    func filters() throws {
        try PcapHandle.checkFilter(CaptureFilter.default(addresses: [F.sinkhole, F.sinkhole6, F.seized])!)
        #expect(throws: PcapError.self) { try PcapHandle.checkFilter("dst host and or") }
        do {
            try PcapHandle.checkFilter("dst host and or")
        } catch {
            #expect(error.call == "pcap_compile" && error.message.contains("dst host and or"))
        }
    }

    @Test("a filter (capture.filter on a capture.file) keeps only the packets it matches")
    func filteredRead() throws {
        var writer = PcapTestWriter(linkType: 1)
        for (i, f) in Self.traffic({ TestFrame.ethernet(ip: $0) }).enumerated() { writer.add(f, seconds: 1_750_000_000 + UInt32(i)) }
        let (summary, events) = try Self.read(writer, filter: "tcp port 80 or icmp")
        // The connection to port 80 (SYN, SYN-ACK, ACK, request) and the echo request; the SYN
        // elsewhere, the DNS query, the fragment and the cut-off TCP header are filtered out.
        #expect(summary.failure == nil && summary.counts.packets == 5 && summary.counts.events == 3, "\(summary)")
        #expect(events.map(\.transport) == [.tcp, .tcp, .icmp])
    }

    @Test("a stop request ends the read at the next progress interval, not at the file's end, with no failure")
    func stoppedRead() throws {
        var writer = PcapTestWriter(linkType: 101)
        let total = CaptureFile.progressInterval * 3
        for i in 0..<total {
            writer.add(TestFrame.ipv4(F.bot, "198.51.100.10", proto: 6, TestFrame.tcp(UInt16(1024 + i % 50_000), 4444, flags: TestFrame.syn)),
                       seconds: 1_750_000_000, microseconds: UInt32(i))
        }
        let url = Self.temporaryFile("stop.pcap")
        try writer.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: total,
                                      filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        var asked = 0
        let summary = CaptureFile.read(path: url.path, fileBytes: writer.bytes.count, checkIns: try F.checkIns(), ring: ring,
                                       shouldStop: { asked += 1; return asked == 2 })
        #expect(summary.stopped && summary.failure == nil, "\(summary)")
        #expect(summary.counts.packets == 2 * CaptureFile.progressInterval && summary.counts.events == summary.counts.packets)
        #expect(summary.bytesRead < writer.bytes.count)
        #expect(ring.drain { _ in } == summary.counts.events)
    }
}
