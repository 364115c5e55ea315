import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `sinkhole replay` against the real binary, on pcaps the tests write (Support/PcapTestWriter).
@Suite("sinkhole replay: capture files into the store", .serialized)
struct ReplayBinaryTests {
    static let bot = "198.51.100.66"

    /// A configuration storing into `directory`/checkins.db, with one family owning the seized
    /// name cc.botnet.example and the seized address 203.0.113.7.
    static func configure(_ directory: URL) throws -> String {
        let domains = directory.appendingPathComponent("rustock.txt").path
        try "cc.botnet.example\n".write(toFile: domains, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: replay-node
        sinkhole_addresses: [198.51.100.10, "2001:db8::10"]
        families:
          - name: rustock
            domains: [\(domains)]
            addresses: [203.0.113.7]
        dns:
          listen: ["127.0.0.1:0"]
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: \(directory.appendingPathComponent("checkins.db").path)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    static let t0: UInt32 = 1_750_000_000

    /// One bot's HTTP connection (SYN, the sinkhole's SYN-ACK, ACK, the request), a DNS query,
    /// an echo request to the seized address, an IPv6 SYN, and a later fragment.
    static func ethernetCapture() -> PcapTestWriter {
        var w = PcapTestWriter(linkType: 1)
        let e = { (ip: [UInt8]) in TestFrame.ethernet(ip: ip) }
        w.add(e(TestFrame.ipv4(bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.syn))), seconds: t0, microseconds: 100)
        w.add(e(TestFrame.ipv4("198.51.100.10", bot, proto: 6, TestFrame.tcp(80, 40000, flags: TestFrame.syn | TestFrame.ack))), seconds: t0, microseconds: 200)
        w.add(e(TestFrame.ipv4(bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.ack))), seconds: t0, microseconds: 300)
        w.add(e(TestFrame.ipv4(bot, "198.51.100.10", proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.psh | TestFrame.ack,
                                                                            payload: TestFrame.httpRequest(host: "cc.botnet.example")))),
              seconds: t0, microseconds: 400)
        w.add(e(TestFrame.ipv4(bot, "198.51.100.10", proto: 17, TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("x.cc.botnet.example", type: 28)))),
              seconds: t0 + 1)
        w.add(e(TestFrame.ipv4(bot, "203.0.113.7", proto: 1, TestFrame.icmp(type: 8))), seconds: t0 + 2)
        w.add(e(TestFrame.ipv6("2001:db8::66", "2001:db8::10", proto: 6, TestFrame.tcp(40001, 4444, flags: TestFrame.syn),
                               extensions: [.hopByHop])), seconds: t0 + 3)
        w.add(e(TestFrame.ipv4(bot, "198.51.100.10", proto: 17, Array(repeating: 0, count: 16), fragmentOffset: 100)), seconds: t0 + 4)
        return w
    }

    static func syns(linkType: UInt32, count: Int, from port: UInt16 = 50000, frame: ([UInt8]) -> [UInt8] = { $0 }) -> PcapTestWriter {
        var w = PcapTestWriter(linkType: linkType)
        for i in 0..<count {
            w.add(frame(TestFrame.ipv4(bot, "203.0.113.7", proto: 6, TestFrame.tcp(port &+ UInt16(i % 10000), 8443, flags: TestFrame.syn))),
                  seconds: t0 + 10 + UInt32(i / 1000), microseconds: UInt32(i % 1000))
        }
        return w
    }

    @Test("two files of different link types: every check-in stored field by field, summaries per file and in total, exit 0")
    func replayStoresEveryField() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.configure(directory)
        let first = directory.appendingPathComponent("seized-cc.pcap")
        try Self.ethernetCapture().write(to: first)
        let second = directory.appendingPathComponent("cooked.pcap")
        try Self.syns(linkType: 276, count: 2, frame: TestFrame.sll2).write(to: second)

        let result = try SinkholeProcess.runToExit(["replay", "--config", config, first.path, second.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            "\(first.path): EN10MB: packets 8, bytes \(Self.ethernetCapture().bytes.count - 24 - 8 * 16), decoded 7, events 5, undecodable 1 (later_fragment 1), skipped link type 0",
            "\(second.path): LINUX_SLL2: packets 2, bytes \(2 * (20 + 40)), decoded 2, events 2, undecodable 0, skipped link type 0",
            "total: 2 files (0 not read to the end): packets 10, bytes \(Self.ethernetCapture().bytes.count - 24 - 8 * 16 + 120), decoded 9, events 7, undecodable 1 (later_fragment 1), skipped link type 0; store: offered 7, stored 7, dropped 0",
        ], "\(result.stdout)")
        #expect(!result.stderr.contains("packets/s"), "progress shown when piped: \(result.stderr)")

        let db = directory.appendingPathComponent("checkins.db").path
        let us = { (seconds: UInt32, micros: Int) in "\(Int(seconds) * 1_000_000 + micros)" }
        let rows = try sqliteRows(db, """
            SELECT node, transport, service, family, src_ip, src_port, dst_ip, dst_port, first_seen, last_seen, count,
                   tcp_flags, icmp_type, icmp_code, name, dns_type, dns_rcode, http_method, http_path, http_version,
                   http_user_agent FROM checkins ORDER BY first_seen
            """)
        #expect(rows == [
            // The SYN and the request's first segment: one row, the HTTP detail on it.
            ["replay-node", "tcp", "packet", "rustock", Self.bot, "40000", "198.51.100.10", "80", us(Self.t0, 100), us(Self.t0, 400), "2",
             "26", "0", "0", "cc.botnet.example", "0", "0", "GET", "/gate.php?id=42", "1.1", "bot/1.0"],
            ["replay-node", "udp", "packet", "rustock", Self.bot, "5353", "198.51.100.10", "53", us(Self.t0 + 1, 0), us(Self.t0 + 1, 0), "1",
             "0", "0", "0", "x.cc.botnet.example", "28", "255", "", "", "", ""],
            ["replay-node", "icmp", "packet", "rustock", Self.bot, "0", "203.0.113.7", "0", us(Self.t0 + 2, 0), us(Self.t0 + 2, 0), "1",
             "0", "8", "0", "", "0", "0", "", "", "", ""],
            ["replay-node", "tcp", "packet", "", "2001:db8::66", "40001", "2001:db8::10", "4444", us(Self.t0 + 3, 0), us(Self.t0 + 3, 0), "1",
             "2", "0", "0", "", "0", "0", "", "", "", ""],
            ["replay-node", "tcp", "packet", "rustock", Self.bot, "50000", "203.0.113.7", "8443", us(Self.t0 + 10, 0), us(Self.t0 + 10, 0), "1",
             "2", "0", "0", "", "0", "0", "", "", "", ""],
            ["replay-node", "tcp", "packet", "rustock", Self.bot, "50001", "203.0.113.7", "8443", us(Self.t0 + 10, 1), us(Self.t0 + 10, 1), "1",
             "2", "0", "0", "", "0", "0", "", "", "", ""],
        ])
        // The capture day, not today: infections by the capture's clock. Four sessions: the DNS
        // query is not infection evidence (its source is mostly a resolver).
        #expect(try sqliteRows(db, "SELECT day, src_ip, family, count FROM infections") == [["2025-06-15", Self.bot, "rustock", "4"]])
        #expect(try sqliteRows(db, "SELECT offered, stored, dropped FROM runs") == [["7", "7", "0"]])
    }

    @Test("a truncated file and a missing one: exit 1 with a message for each, what the truncated file held is stored")
    func truncatedAndMissing() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.configure(directory)
        let truncated = directory.appendingPathComponent("cut.pcap")
        var w = Self.syns(linkType: 101, count: 3)
        w.dropLast(7)
        try w.write(to: truncated)
        let missing = directory.appendingPathComponent("missing.pcap").path
        let bogus = directory.appendingPathComponent("bogus.pcap")
        var b = Self.syns(linkType: 101, count: 1, from: 60000)
        b.add([1, 2, 3], seconds: Self.t0 + 20, capturedLength: 0x7fff_ffff)
        try b.write(to: bogus)

        let result = try SinkholeProcess.runToExit(["replay", "--config", config, truncated.path, missing, bogus.path])
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("sinkhole: replay: \(truncated.path): stopped after 2 packets (what they held is stored): pcap_next_ex: truncated dump file"),
                "\(result.stderr)")
        #expect(result.stderr.contains("sinkhole: replay: \(missing): cannot read: pcap_open_offline: \(missing): No such file or directory"),
                "\(result.stderr)")
        #expect(result.stderr.contains("sinkhole: replay: \(bogus.path): stopped after 1 packets"), "\(result.stderr)")
        #expect(result.stdout.contains("total: 3 files (3 not read to the end): packets 3,"), "\(result.stdout)")
        let db = directory.appendingPathComponent("checkins.db").path
        #expect(try sqliteRows(db, "SELECT src_port FROM checkins ORDER BY src_port") == [["50000"], ["50001"], ["60000"]])
    }

    @Test("a link type the decoder does not read: one message for the file, its packets counted as skipped, exit 0")
    func unsupportedLinkType() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.configure(directory)
        let file = directory.appendingPathComponent("wifi.pcap")
        var w = PcapTestWriter(linkType: 105)
        for i in 0..<3 { w.add([UInt8](repeating: UInt8(i), count: 30), seconds: Self.t0 + UInt32(i)) }
        try w.write(to: file)
        let result = try SinkholeProcess.runToExit(["replay", "--config", config, file.path])
        #expect(result.status == 0, "\(result.stderr)")
        let messages = result.stderr.split(separator: "\n").filter { $0.contains("is not one the decoder reads") }
        #expect(messages.count == 1 && messages[0].contains("IEEE802_11") && messages[0].contains("its 3 packets were skipped"), "\(result.stderr)")
        #expect(result.stdout.contains("skipped link type 3"), "\(result.stdout)")
    }

    @Test("progress on a terminal (packets, % of file, rate), none when piped")
    func progressOnlyOnATerminal() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.configure(directory)
        let file = directory.appendingPathComponent("many.pcap")
        try Self.syns(linkType: 101, count: 20_000).write(to: file)
        let piped = try SinkholeProcess.runToExit(["replay", "--config", config, file.path])
        #expect(piped.status == 0 && !piped.stderr.contains("packets/s") && !piped.stderr.contains("\r"), "\(piped.stderr)")
        #expect(piped.stdout.contains("events 20000"), "\(piped.stdout)")
        // script(1) gives the binary a pseudo-terminal for stdout and stderr.
        let command = ([SinkholeProcess.binary, "replay", "--config", config, file.path]).joined(separator: " ")
        let tty = try CatchAllNamespaceTests.run(["/usr/bin/script", "-qec", command, "/dev/null"], timeout: .seconds(60))
        #expect(tty.contains("packets/s") && tty.contains("% of file"), "\(tty)")
    }

    @Test("--help explains the subcommand, the link types and the exit status")
    func help() throws {
        let result = try SinkholeProcess.runToExit(["replay", "--help"])
        #expect(result.status == 0)
        for fragment in ["pcapng", "LINUX_SLL2", "Exit status", "capture's timestamps", "USAGE: sinkhole replay <file> ..."] {
            #expect(result.stdout.contains(fragment), "\(fragment): \(result.stdout)")
        }
    }
}
