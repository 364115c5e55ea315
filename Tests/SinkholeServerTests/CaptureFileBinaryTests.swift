import Foundation
import Testing

/// `capture.file` against the real binary: a pcap the test writes (Support/PcapTestWriter) is
/// read by `sinkhole run` into the store, and `check-config` reports it or names what is wrong.
@Suite("sinkhole run: capture.file, a capture file as the run's capture source", .serialized)
struct CaptureFileBinaryTests {
    static let bot = ReplayBinaryTests.bot

    /// `ReplayBinaryTests.configure`'s configuration with a `capture:` section appended.
    static func configure(_ directory: URL, capture: String) throws -> String {
        let config = try ReplayBinaryTests.configure(directory)
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (text + "\ncapture:\n" + capture + "\n").write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// A bot's SYN and HTTP request (the sinkhole's SYN-ACK and the ACK between), a DNS query,
    /// an echo request to the seized address, a SYN from elsewhere to an address that is not
    /// the sinkhole's, and `syns` SYNs to the seized address; stamped from `t0` on, so the
    /// run's retention (30 days) keeps them.
    static func capture(t0: UInt32, syns: Int) -> PcapTestWriter {
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
        w.add(e(TestFrame.ipv4(bot, "198.51.100.99", proto: 6, TestFrame.tcp(40002, 80, flags: TestFrame.syn))), seconds: t0 + 2)
        for i in 0..<syns {
            w.add(e(TestFrame.ipv4(bot, "203.0.113.7", proto: 6, TestFrame.tcp(20000 + UInt16(i), 8443, flags: TestFrame.syn))),
                  seconds: t0 + 3, microseconds: UInt32(i))
        }
        return w
    }

    @Test("a run with capture.file stores every check-in of the file with its capture time, offered == stored, and keeps serving")
    func runReadsTheFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("seized-cc.pcap")
        let t0 = UInt32(Date().timeIntervalSince1970) - 60
        // More SYNs than one progress interval (4,096 packets), so the read passes its stop check.
        let syns = 5000
        try Self.capture(t0: t0, syns: syns).write(to: file)
        let config = try Self.configure(directory, capture: "  file: seized-cc.pcap")

        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let deadline = ContinuousClock.now + .seconds(60)
        while !sinkhole.stderr.contains("capture file read"), sinkhole.process.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = sinkhole.stderr
        #expect(log.contains("capture file read") && log.contains("capture.events=\(4 + syns)")
                && log.contains("capture.packets=\(7 + syns)") && log.contains("capture.link_type=EN10MB"), "\(log)")
        // The file's end does not end the run.
        #expect(sinkhole.process.isRunning, "\(log)")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        let db = directory.appendingPathComponent("checkins.db").path
        let us = { (seconds: UInt32, micros: Int) in "\(Int(seconds) * 1_000_000 + micros)" }
        let rows = try sqliteRows(db, """
            SELECT node, transport, service, family, src_ip, src_port, dst_ip, dst_port, first_seen, last_seen, count,
                   tcp_flags, icmp_type, name, dns_type, dns_rcode, http_method, http_path, http_user_agent
            FROM checkins WHERE dst_port != 8443 ORDER BY first_seen
            """)
        #expect(rows == [
            // The SYN and the request's first segment: one row, the HTTP detail on it.
            ["replay-node", "tcp", "packet", "rustock", Self.bot, "40000", "198.51.100.10", "80", us(t0, 100), us(t0, 400), "2",
             "26", "0", "cc.botnet.example", "0", "0", "GET", "/gate.php?id=42", "bot/1.0"],
            ["replay-node", "udp", "packet", "rustock", Self.bot, "5353", "198.51.100.10", "53", us(t0 + 1, 0), us(t0 + 1, 0), "1",
             "0", "0", "x.cc.botnet.example", "28", "255", "", "", ""],
            ["replay-node", "icmp", "packet", "rustock", Self.bot, "0", "203.0.113.7", "0", us(t0 + 2, 0), us(t0 + 2, 0), "1",
             "0", "8", "", "0", "0", "", "", ""],
        ])
        #expect(try sqliteRows(db, "SELECT count(*), min(src_port), max(src_port), min(first_seen) FROM checkins WHERE dst_port = 8443")
                == [["\(syns)", "20000", "\(20000 + syns - 1)", us(t0 + 3, 0)]])
        #expect(try sqliteRows(db, "SELECT offered, stored, dropped FROM runs") == [["\(4 + syns)", "\(4 + syns)", "0"]])
    }

    @Test("check-config names the capture file, its link type and size")
    func checkConfigReportsTheFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("cooked.pcap")
        var w = PcapTestWriter(linkType: 276)
        w.add(TestFrame.sll2(TestFrame.ipv4(Self.bot, "203.0.113.7", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn))), seconds: 1)
        try w.write(to: file)
        let config = try Self.configure(directory, capture: "  file: cooked.pcap\n  filter: tcp")
        let result = try SinkholeProcess.runToExit(["check-config", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("capture: file \(file.path) (LINUX_SLL2, \(w.bytes.count) bytes, filter tcp), read once at start"),
                "\(result.stdout)")
    }

    @Test("check-config warns of a capture file whose link type the decoder does not read")
    func checkConfigWarnsOfALinkType() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var w = PcapTestWriter(linkType: 105)
        w.add([UInt8](repeating: 0, count: 30), seconds: 1)
        try w.write(to: directory.appendingPathComponent("wifi.pcap"))
        let config = try Self.configure(directory, capture: "  file: wifi.pcap")
        let result = try SinkholeProcess.runToExit(["check-config", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("warning: capture.file \(directory.appendingPathComponent("wifi.pcap").path) has link type IEEE802_11"),
                "\(result.stdout)")
    }

    /// A capture section that is wrong, the line of the offending key in the whole file
    /// (`ReplayBinaryTests.configure` writes 11 lines, then `capture:`), and what the error says.
    struct BadFile: CustomTestStringConvertible, Sendable {
        var name: String
        var capture: String
        var line: Int
        var message: String
        var testDescription: String { name }
    }

    static let badFiles: [BadFile] = [
        .init(name: "a missing file", capture: "  file: missing.pcap", line: 13, message: "missing.pcap: no such file"),
        .init(name: "a directory", capture: "  file: .", line: 13, message: "is a directory; a capture must be a file"),
        .init(name: "not a capture", capture: "  file: sinkhole.yaml", line: 13,
              message: "sinkhole.yaml is not a capture file libpcap reads (pcap or pcapng): pcap_open_offline: "),
        .init(name: "beside an interface", capture: "  interface: lo\n  file: ok.pcap", line: 14,
              message: "capture.file: capture.interface is set too; a run captures from an interface or a file, not both"),
    ]

    @Test("a capture.file that cannot be read as a capture is a configuration error naming file, line and key", arguments: badFiles)
    func badFile(_ bad: BadFile) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var w = PcapTestWriter(linkType: 101)
        w.add(TestFrame.ipv4(Self.bot, "203.0.113.7", proto: 6, TestFrame.tcp(1, 2, flags: TestFrame.syn)), seconds: 1)
        try w.write(to: directory.appendingPathComponent("ok.pcap"))
        let config = try Self.configure(directory, capture: bad.capture)
        for command in ["check-config", "run"] {
            let result = try SinkholeProcess.runToExit([command, "--config", config])
            #expect(result.status == 2, "\(command): \(result.stdout)\n\(result.stderr)")
            #expect(result.stderr.contains("\(config):\(bad.line):") && result.stderr.contains("capture.file: ")
                    && result.stderr.contains(bad.message), "\(command): \(result.stderr)")
        }
    }
}
