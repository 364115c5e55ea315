import Foundation
import SinkholeCore
@testable import SinkholeFeeds
import SinkholeStore
import Testing

/// The daily export below the command line: a real SQLite store written by the real writer
/// path (Deduplicator, SQLiteStore), exported per ISP into a temporary directory.
@Suite("Daily export: per-ISP Shadowserver CSVs and JSON Lines")
struct ExportTests {
    /// 2024-03-10T00:00:00Z.
    static let day = UTCTime(seconds: 1_710_028_800)
    static func at(_ seconds: Int64) -> UTCTime { UTCTime(seconds: day.seconds + seconds) }
    static func address(_ text: String) -> IPAddress { IPAddress(text)! }

    /// A path a bot could send: CR, LF, a quote, a comma, NUL, ESC, a backslash, invalid UTF-8.
    static let evilPath: [UInt8] = Array("/gate.php?a=\"1\",b=".utf8) + [0x0D, 0x0A, 0x00, 0x1B, 0x5C, 0xFF, 0xC3, 0xA9]

    static func session(_ time: UTCTime, _ service: CheckIn.Service, from source: String, port: UInt16,
                        to destinationPort: UInt16 = 80, transport: CheckIn.Transport = .tcp, family: String = "rustock",
                        host: String = "", path: [UInt8] = [], userAgent: String = "", sni: String = "") -> CheckIn {
        var event = CheckIn(time: time, source: address(source), sourcePort: port,
                            destination: address("198.51.100.10"), destinationPort: destinationPort,
                            transport: transport, service: service)
        event.family = BoundedBytes(family)
        event.name = BoundedBytes(host.isEmpty ? sni : host)
        if !path.isEmpty {
            event.httpMethod = BoundedBytes("POST")
            event.httpPath = BoundedBytes(path)
            event.httpVersion = 11
            event.httpStatus = 200
        }
        event.httpUserAgent = BoundedBytes(userAgent)
        event.tlsServerName = BoundedBytes(sni)
        return event
    }

    static func dns(_ time: UTCTime, from source: String, port: UInt16, qname: String, family: String) -> CheckIn {
        var event = CheckIn(time: time, source: address(source), sourcePort: port,
                            destination: address("198.51.100.10"), destinationPort: 53, transport: .udp, service: .dns)
        event.name = BoundedBytes(qname)
        event.dnsType = 28
        event.family = BoundedBytes(family)
        return event
    }

    static let events: [CheckIn] = [
        // ISP "alpha" by its CIDR 203.0.113.0/25.
        session(at(10), .http, from: "203.0.113.7", port: 40_001, host: "cc.rustock.example", path: evilPath, userAgent: "Mozilla/4.0 (bot, \"x\")"),
        session(at(20), .packet, from: "203.0.113.9", port: 40_002, to: 4444),
        dns(at(30), from: "198.51.100.53", port: 5353, qname: "q1.conficker.example", family: "conficker"),
        dns(at(31), from: "198.51.100.53", port: 5354, qname: "q1.conficker.example", family: "conficker"),
        // Not a seized name: REFUSED noise, in no feed.
        dns(at(32), from: "198.51.100.53", port: 5355, qname: "www.example.com", family: ""),
        // No family: a scanner on the sinkhole's own address, in no feed.
        session(at(40), .tcp, from: "203.0.113.7", port: 40_003, to: 23, family: ""),
        // Ignored network inside alpha's CIDR: in no feed.
        session(at(50), .http, from: "203.0.113.70", port: 40_004, host: "cc.rustock.example", path: Array("/crawl".utf8)),
        // ISP "beta" by its IPv6 CIDR, and by its ASN (203.0.113.128/25 → AS64501).
        session(at(60), .tls, from: "2001:db8:1::5", port: 40_005, to: 443, family: "conficker", host: "x.conficker.example",
                path: Array("/p".utf8), sni: "x.conficker.example"),
        session(at(70), .tcp, from: "203.0.113.200", port: 40_006, to: 4444, family: "rustock"),
        // Nobody's.
        session(at(80), .http, from: "198.51.100.99", port: 40_007, host: "cc.rustock.example", path: Array("/n".utf8)),
        // The next day: not in this export.
        session(at(86_400 + 5), .http, from: "203.0.113.7", port: 40_008, host: "cc.rustock.example", path: Array("/tomorrow".utf8)),
    ]

    static func makeStore(_ path: String) throws {
        let store = try SQLiteStore(path: path)
        defer { store.close() }
        let run = try store.beginRun(node: "node1", startedAt: day)
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        for event in events { dedup.add(event) }
        var batch = dedup.takeBatch(now: at(86_400 + 10)).batch
        batch.counters = RunCounters(offered: events.count, stored: events.count, dropped: 0)
        try store.write(batch, node: "node1", run: run)
    }

    static let alpha = ISP(name: "alpha", asns: [64500], cidrs: [CIDR("203.0.113.0/25")!], abuse: "abuse@alpha.test",
                           tokenSHA256: [UInt8](repeating: 1, count: 32), formats: [.shadowserver, .jsonl])
    static let beta = ISP(name: "beta", asns: [64501], cidrs: [CIDR("2001:db8:1::/48")!], abuse: "abuse@beta.test",
                          tokenSHA256: [UInt8](repeating: 2, count: 32), formats: [.shadowserver])

    static func attributor() throws -> AddressAttributor {
        let map = ASNMap(prefixes: [(CIDR("198.51.100.0/26")!, 64500), (CIDR("203.0.113.128/25")!, 64501),
                                    (CIDR("203.0.113.0/25")!, 64500)])
        return AddressAttributor(asnMap: map, directory: try ISPDirectory(isps: [alpha, beta]),
                                 ignore: [CIDR("203.0.113.64/26")!])
    }

    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-export-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func files(_ sub: String) throws -> [String: Data] {
            var out: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: path + "/" + sub) {
                out[name] = FileManager.default.contents(atPath: path + "/" + sub + "/" + name)
            }
            return out
        }
        func text(_ sub: String, _ name: String) -> String {
            String(decoding: FileManager.default.contents(atPath: "\(path)/\(sub)/\(name)") ?? Data(), as: UTF8.self)
        }
    }

    func export(_ scratch: Scratch, formats: Set<FeedFormat>? = nil) throws -> DailyExport.Summary {
        let reader = try SQLiteDayReader(path: scratch.path + "/store.db")
        return try DailyExport(.init(day: Self.at(3600), node: "node1", outputDirectory: scratch.path + "/out",
                                     isps: [Self.alpha, Self.beta], formats: formats))
            .run(reader: reader, attributor: try Self.attributor())
    }

    /// Splits one CSV record (RFC 4180, no line breaks inside: the export never writes any).
    static func fields(_ line: Substring) -> [String] {
        var fields: [String] = [], current = "", quoted = false, wasQuote = false
        for c in line {
            if quoted {
                if c == "\"" { quoted = false; wasQuote = true } else { current.append(c) }
            } else if c == "\"" {
                if wasQuote { current.append("\"") }
                quoted = true; wasQuote = false
            } else if c == "," {
                fields.append(current); current = ""; wasQuote = false
            } else {
                current.append(c); wasQuote = false
            }
        }
        fields.append(current)
        return fields
    }

    static func lines(_ text: String) -> [Substring] {
        text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast().map { $0 }
    }

    @Test("each ISP gets only its own sources, in the files its formats ask for, with the right reports")
    func perISP() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        let summary = try export(scratch)
        let d = "2024-03-10"
        #expect(try Set(scratch.files("out/alpha").keys) == [
            "\(d)-event4_sinkhole_http-node1.csv", "\(d)-event4_sinkhole-node1.csv", "\(d)-event4_sinkhole_dns-node1.csv",
            "\(d)-checkins-node1.jsonl", "\(d)-infections-node1.jsonl", "MANIFEST.sha256",
        ])
        #expect(try Set(scratch.files("out/beta").keys) == [
            "\(d)-event6_sinkhole_http-node1.csv", "\(d)-event4_sinkhole-node1.csv", "\(d)-infections-node1.jsonl", "MANIFEST.sha256",
        ])
        // alpha: HTTP, packet, one DNS row, and 2 infections; beta: TLS, TCP and 2 infections.
        #expect(summary.rows == ["alpha": 5, "beta": 4])
        #expect(summary.ignored == 2)       // the crawler's session and its infection row
        #expect(summary.unattributed == 2)  // 198.51.100.99's session and infection row
        let everything = try ["alpha", "beta"].map { isp in
            try scratch.files("out/\(isp)").values.map { String(decoding: $0, as: UTF8.self) }.joined()
        }
        for other in ["203.0.113.70", "198.51.100.99", "/tomorrow", "www.example.com", "40003"] {
            #expect(!everything[0].contains(other) && !everything[1].contains(other), "\(other) leaked into a feed")
        }
        #expect(!everything[0].contains("2001:db8:1::5") && !everything[0].contains("203.0.113.200"))
        #expect(!everything[1].contains("203.0.113.7") && !everything[1].contains("198.51.100.53"))
    }

    @Test("CSV headers are Shadowserver's exactly, and every row has as many fields as its header")
    func headersAndRows() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/shadowserver/shadowserver-sinkhole-headers.csv")
        let reference = try String(contentsOf: fixture, encoding: .utf8)
        for report in ShadowserverReport.allCases {
            let line = try #require(reference.split(separator: "\n").first { $0.hasPrefix(report.rawValue + ": ") })
            #expect(String(decoding: report.headerRow, as: UTF8.self) == line.dropFirst(report.rawValue.count + 2) + "\r\n")
        }
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        _ = try export(scratch)
        for isp in ["alpha", "beta"] {
            for (name, data) in try scratch.files("out/\(isp)") where name.hasSuffix(".csv") {
                let lines = Self.lines(String(decoding: data, as: UTF8.self))
                let header = Self.fields(lines[0])
                #expect(lines.count >= 2)
                for line in lines.dropFirst() {
                    #expect(Self.fields(line).count == header.count, "\(name): \(line)")
                    #expect(!line.contains("\n") && !line.contains("\r"))
                }
            }
        }
    }

    @Test("a row carries time, source port, ASN, family, severity and the HTTP detail, escaped onto one line")
    func rowContent() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        _ = try export(scratch)
        let http = Self.lines(scratch.text("out/alpha", "2024-03-10-event4_sinkhole_http-node1.csv"))
        #expect(http.count == 2)
        let header = Self.fields(http[0])
        let row = Dictionary(uniqueKeysWithValues: zip(header, Self.fields(http[1])))
        #expect(row["timestamp"] == "2024-03-10 00:00:10")
        #expect(row["protocol"] == "tcp")
        #expect(row["src_ip"] == "203.0.113.7")
        #expect(row["src_port"] == "40001")
        #expect(row["src_asn"] == "64500")
        #expect(row["severity"] == "critical")
        #expect(row["dst_ip"] == "198.51.100.10")
        #expect(row["dst_port"] == "80")
        #expect(row["infection"] == "rustock")
        #expect(row["application"] == "http")
        #expect(row["http_host"] == "cc.rustock.example")
        #expect(row["http_url"] == "/gate.php?a=\"1\",b=\\x0d\\x0a\\x00\\x1b\\\\\\xffé")
        #expect(row["http_agent"] == "Mozilla/4.0 (bot, \"x\")")
        #expect(row["machine_name"] == "node1")
        #expect(row["event_id"]?.hasPrefix("node1/") == true)
        #expect(row["src_geo"] == "")

        let dns = Self.lines(scratch.text("out/alpha", "2024-03-10-event4_sinkhole_dns-node1.csv"))
        let dnsRow = Dictionary(uniqueKeysWithValues: zip(Self.fields(dns[0]), Self.fields(dns[1])))
        #expect(dnsRow["severity"] == "info")
        #expect(dnsRow["query"] == "q1.conficker.example")
        #expect(dnsRow["query_type"] == "AAAA")
        #expect(dnsRow["count"] == "2")
        #expect(dnsRow["src_port"] == "5354")    // the hour's last query's port
        #expect(dnsRow["timestamp"] == "2024-03-10 00:00:30")

        let tls = Self.lines(scratch.text("out/beta", "2024-03-10-event6_sinkhole_http-node1.csv"))
        let tlsRow = Dictionary(uniqueKeysWithValues: zip(Self.fields(tls[0]), Self.fields(tls[1])))
        #expect(tlsRow["application"] == "https")
        #expect(tlsRow["ssl_servername"] == "x.conficker.example")
        #expect(tlsRow["src_asn"] == "0")

        let infections = scratch.text("out/alpha", "2024-03-10-infections-node1.jsonl").split(separator: "\n")
        #expect(infections.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(infections[0].utf8)) as? [String: Any]
        #expect(first?["src_ip"] as? String == "203.0.113.7")
        #expect(first?["src_port"] as? Int == 40_001)
        #expect(first?["family"] as? String == "rustock")
        #expect(first?["src_asn"] as? Int == 64500)
        for line in scratch.text("out/alpha", "2024-03-10-checkins-node1.jsonl").split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not JSON: \(line)")
        }
    }

    @Test("the manifest checks with sha256sum, and exporting again gives the same bytes")
    func manifestAndRepeatability() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        _ = try export(scratch)
        let before = try scratch.files("out/alpha")
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        check.arguments = ["--check", "--strict", "MANIFEST.sha256"]
        check.currentDirectoryURL = URL(fileURLWithPath: scratch.path + "/out/alpha")
        check.standardOutput = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        #expect(check.terminationStatus == 0)
        #expect(scratch.text("out/alpha", "MANIFEST.sha256").split(separator: "\n").count == 5)

        _ = try export(scratch)
        #expect(try scratch.files("out/alpha") == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/out/alpha").allSatisfy { !$0.hasPrefix(".") })
    }

    @Test("exporting a day again with fewer formats removes that day's files it no longer writes")
    func staleFilesRemoved() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        _ = try export(scratch)
        // Another day's file and a file that is not ours stay.
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.path + "/out/alpha/2024-03-09-infections-node1.jsonl"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.path + "/out/alpha/notes.txt"))
        _ = try export(scratch, formats: [.jsonl])
        #expect(try Set(scratch.files("out/alpha").keys) == [
            "2024-03-10-checkins-node1.jsonl", "2024-03-10-infections-node1.jsonl", "2024-03-09-infections-node1.jsonl",
            "notes.txt", "MANIFEST.sha256",
        ])
        #expect(scratch.text("out/alpha", "MANIFEST.sha256").split(separator: "\n").count == 3)
    }

    @Test("an ISP with nothing that day still gets an empty infections file")
    func emptyDay() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        let reader = try SQLiteDayReader(path: scratch.path + "/store.db")
        let summary = try DailyExport(.init(day: Self.at(-86_400), node: "node1", outputDirectory: scratch.path + "/out",
                                            isps: [Self.alpha])).run(reader: reader, attributor: try Self.attributor())
        #expect(summary.read == 0)
        #expect(try Set(scratch.files("out/alpha").keys) == ["2024-03-09-infections-node1.jsonl", "MANIFEST.sha256"])
        #expect(scratch.text("out/alpha", "2024-03-09-infections-node1.jsonl").isEmpty)
    }

    @Test("a failed export leaves no partial files and the earlier export as it was")
    func failureLeavesNothing() throws {
        let scratch = try Scratch()
        try Self.makeStore(scratch.path + "/store.db")
        _ = try export(scratch)
        let before = try scratch.files("out/alpha")
        struct Boom: Error {}
        let reader = try SQLiteDayReader(path: scratch.path + "/store.db")
        #expect(throws: Boom.self) {
            try DailyExport(.init(day: Self.at(3600), node: "node1", outputDirectory: scratch.path + "/out", isps: [Self.alpha]))
                .run(reader: reader, attributor: try Self.attributor()) { read, _ in if read > 0 { throw Boom() } }
        }
        #expect(try scratch.files("out/alpha") == before)
    }

    @Test("more files than may be open at once: every file complete")
    func manyISPs() throws {
        let scratch = try Scratch()
        let store = try SQLiteStore(path: scratch.path + "/store.db")
        let run = try store.beginRun(node: "node1", startedAt: Self.day)
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        var isps: [ISP] = []
        // 40 ISPs of one /32 each, 3 files each: 120 files against an open-file limit of 8.
        for i in 0..<40 {
            let source = "10.\(i / 256).\(i % 256).1"
            isps.append(ISP(name: "isp\(i)", asns: [], cidrs: [CIDR(source + "/32")!], abuse: "abuse@isp.test", tokenSHA256: [UInt8](repeating: UInt8(i % 256), count: 32),
                            formats: [.shadowserver]))
            for k in 0..<3 {
                dedup.add(Self.session(Self.at(Int64(i * 10 + k)), .http, from: source, port: UInt16(1000 + k), host: "h", path: Array("/\(k)".utf8)))
                dedup.add(Self.session(Self.at(Int64(i * 10 + k)), .tcp, from: source, port: UInt16(2000 + k), to: 23))
            }
        }
        var batch = dedup.takeBatch(now: Self.at(86_400)).batch
        batch.counters = RunCounters(offered: 1800, stored: 1800, dropped: 0)
        try store.write(batch, node: "node1", run: run)
        store.close()
        let reader = try SQLiteDayReader(path: scratch.path + "/store.db")
        var export = DailyExport(.init(day: Self.day, node: "node1", outputDirectory: scratch.path + "/out", isps: isps))
        export.openFileLimit = 8
        let summary = try export.run(reader: reader, attributor: AddressAttributor(asnMap: nil, directory: try ISPDirectory(isps: isps), ignore: []))
        #expect(summary.rows.count == 40)
        for i in [0, 7, 8, 20, 39] {
            #expect(Self.lines(scratch.text("out/isp\(i)", "2024-03-10-event4_sinkhole_http-node1.csv")).count == 4)
            #expect(Self.lines(scratch.text("out/isp\(i)", "2024-03-10-event4_sinkhole-node1.csv")).count == 4)
        }
    }
}
