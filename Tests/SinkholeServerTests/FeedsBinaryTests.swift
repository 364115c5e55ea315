import Foundation
import Testing

/// The feeds as ISPs receive them: real curl and dig traffic from three loopback sources into a
/// running sinkhole, then the per-ISP API over real HTTP and `sinkhole export` into files that
/// IntelMQ's own Shadowserver parser reads.
///
/// Sources: 127.0.0.1 belongs to `alpha` by its CIDR; 127.0.0.3 to `beta` by its ASN (the
/// prefix2as file maps 127.0.0.0/24 to AS64501, which would also cover 127.0.0.1, but a CIDR
/// beats an ASN); 127.0.0.4 is in `feeds.ignore`.
@Suite("Feeds: export and API, end to end", .serialized)
struct FeedsBinaryTests {
    static let alphaToken = "alpha-secret-token"
    static let betaToken = "beta-secret-token"

    struct Setup {
        var directory: URL
        var config: String
        var dnsPort: UInt16
        var httpPort: UInt16
        var feedsPort: UInt16
        var database: String { directory.appendingPathComponent("checkins.db").path }
    }

    static func sha256Hex(_ text: String) throws -> String {
        let output = try runTool("/bin/sh", ["-c", "printf %s '\(text)' | sha256sum"])
        return String(output.prefix(64))
    }

    static func makeSetup(feedsExtra: [String] = []) throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let dnsPort = try freeLoopbackPort()
        let httpPort = try freeLoopbackPort()
        let feedsPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        try "# prefix2as\n127.0.0.0\t24\t64501\n127.0.0.0\t8\t64999_65000\n".write(
            to: directory.appendingPathComponent("pfx2as.txt"), atomically: true, encoding: .utf8)
        try """
        - name: alpha
          asns: [64500]
          cidrs: ["127.0.0.1/32"]
          abuse: abuse@alpha.test
          token_sha256: "\(try sha256Hex(alphaToken))"
          formats: [shadowserver, jsonl]
        - name: beta
          asns: [64501]
          cidrs: []
          abuse: abuse@beta.test
          token_sha256: "\(try sha256Hex(betaToken))"
          formats: [shadowserver]
        """.write(to: directory.appendingPathComponent("isps.yaml"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: feed-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: ["127.0.0.1:\(httpPort)"]
          tls_listen: []
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        feeds:
          asn_map: pfx2as.txt
          isps: isps.yaml
          ignore: ["127.0.0.4/32"]
          export_dir: feeds
          listen: "127.0.0.1:\(feedsPort)"
        \(feedsExtra.map { "  \($0)\n" }.joined())
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, config: config, dnsPort: dnsPort, httpPort: httpPort, feedsPort: feedsPort)
    }

    /// Two HTTP check-ins and one DNS query from alpha, one check-in and one query from beta,
    /// one check-in from the ignored network; returns once all are stored.
    static func sendTraffic(_ setup: Setup) throws {
        let base = "http://127.0.0.1:\(setup.httpPort)"
        for path in ["/a1", "/a2"] {
            #expect(try HTTPBinaryTests.curl(["-H", "Host: cc.botnet.example", "-A", "Bot \"x\", y", "\(base)\(path)"]).status == "200")
        }
        #expect(try HTTPBinaryTests.curl(["--interface", "127.0.0.3", "-H", "Host: cc.botnet.example", "\(base)/b1"]).status == "200")
        #expect(try HTTPBinaryTests.curl(["--interface", "127.0.0.4", "-H", "Host: cc.botnet.example", "\(base)/crawler"]).status == "200")
        _ = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "q.cc.botnet.example")
        _ = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "q.cc.botnet.example", options: ["-b", "127.0.0.3"])
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let stored = (try? sqliteRows(setup.database, "SELECT (SELECT count(*) FROM checkins) + (SELECT count(*) FROM dns_queries)")) ?? []
            if stored.first?.first == "6" { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("traffic not stored in time")
    }

    static func today(_ setup: Setup) throws -> String {
        try #require(try sqliteRows(setup.database, "SELECT date(min(first_seen) / 1000000, 'unixepoch') FROM checkins").first?.first)
    }

    @Test("each ISP's token gets only its own rows, as CSV and JSON Lines; no token, a wrong one, bad parameters and too many requests are refused")
    func api() throws {
        let setup = try Self.makeSetup(feedsExtra: ["rate_limit_per_minute: 1", "rate_limit_burst: 6"])
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        try Self.sendTraffic(setup)
        // With an ASN map, /status ranks the source networks of today's infected addresses:
        // the three HTTP sources are all in 127.0.0.0/24, AS64501.
        let status = "http://\(try #require(sinkhole.metricsAddress))/status"
        var page = ""
        let ranked = "<tr class=\"top-asn\" data-rank=\"1\" data-asn=\"64501\" data-count=\"3\">"
        _ = StoreFaultTests.waitFor("/status to rank AS64501 with 3 addresses", timeout: .seconds(10)) {
            page = (try? fetch(status).body) ?? ""
            return page.contains(ranked)
        }
        #expect(page.contains("<tr class=\"top-asn\" data-rank=\"1\" data-asn=\"64501\" data-count=\"3\">"), "\(page)")
        let day = try Self.today(setup)
        let api = "http://127.0.0.1:\(setup.feedsPort)"
        func get(_ path: String, token: String?) throws -> (status: String, body: String, output: String) {
            try HTTPBinaryTests.curl((token.map { ["-H", "Authorization: Bearer \($0)"] } ?? []) + ["\(api)\(path)"])
        }

        let alpha = try get("/v1/checkins?date=\(day)&format=jsonl", token: Self.alphaToken)
        #expect(alpha.status == "200", "\(alpha.output)")
        let alphaRows = alpha.body.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(alphaRows.count == 3, "\(alpha.body)")
        #expect(Set(alphaRows.compactMap { $0["src_ip"] as? String }) == ["127.0.0.1"])
        #expect(Set(alphaRows.compactMap { $0["service"] as? String }) == ["http", "dns"])
        #expect(alphaRows.allSatisfy { ($0["src_port"] as? Int ?? 0) > 0 })

        let beta = try get("/v1/checkins?date=\(day)", token: Self.betaToken)
        #expect(beta.status == "200", "\(beta.output)")
        let betaLines = beta.body.split(separator: "\r\n")
        #expect(betaLines.count == 3, "header and two rows: \(beta.body)")
        #expect(betaLines.first?.hasPrefix("\"event_id\",\"node\",\"service\"") == true)
        let betaHeader = betaLines.first.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } } ?? []
        let sourceColumn = try #require(betaHeader.firstIndex(of: "src_ip"))
        #expect(betaLines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[sourceColumn] } == ["\"127.0.0.3\"", "\"127.0.0.3\""])
        #expect(!alpha.body.contains("127.0.0.4") && !beta.body.contains("127.0.0.4"), "the ignored network leaked")

        let infections = try get("/v1/infections?since=\(day)&format=jsonl", token: Self.alphaToken)
        #expect(infections.status == "200")
        #expect(infections.body.split(separator: "\n").count == 1, "\(infections.body)")
        #expect(infections.body.contains("\"src_ip\":\"127.0.0.1\"") && infections.body.contains("\"family\":\"example\""))

        let none = try HTTPBinaryTests.curl(["-D", "-", "\(api)/v1/checkins?date=\(day)"])
        #expect(none.status == "401")
        #expect(none.output.contains("WWW-Authenticate: Bearer"), "\(none.output)")
        #expect(try get("/v1/checkins?date=\(day)", token: "wrong").status == "401")
        let bad = try get("/v1/checkins?date=yesterday", token: Self.alphaToken)
        #expect(bad.status == "400")
        #expect(bad.body.contains("date=\"yesterday\": expected a UTC date as YYYY-MM-DD"), "\(bad.body)")

        // alpha has used 2 of its burst of 6 (refusals before authentication cost nothing; one
        // token a minute refills none during the test): four more pass, then 429.
        var statuses: [String] = []
        for _ in 0..<5 { statuses.append(try get("/v1/infections?since=\(day)", token: Self.alphaToken).status) }
        #expect(statuses == ["200", "200", "200", "200", "429"], "\(statuses)")
        let limited = try HTTPBinaryTests.curl(["-D", "-", "-H", "Authorization: Bearer \(Self.alphaToken)", "\(api)/v1/infections?since=\(day)"])
        #expect(limited.status == "429" && limited.output.contains("Retry-After: "), "\(limited.output)")
        #expect(try get("/v1/checkins?date=\(day)", token: Self.betaToken).status == "200", "beta has its own bucket")
        // Bytes that are not HTTP, and a request line of garbage: refused, and the API goes on.
        _ = try runTool("/bin/sh", ["-c", "head -c 8192 /dev/urandom | nc -N -w 2 127.0.0.1 \(setup.feedsPort)"])
        let garbage = try runTool("/bin/sh", ["-c", "printf 'GET \\001\\377 HTTP/9\\r\\n\\r\\n' | nc -N -w 2 127.0.0.1 \(setup.feedsPort)"])
        #expect(!garbage.contains(" 200 "), "\(garbage)")
        #expect(try get("/v1/checkins?date=\(day)", token: Self.betaToken).status == "200", "the API survived the garbage")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        #expect(!sinkhole.stderr.contains(Self.alphaToken) && !sinkhole.stderr.contains(Self.betaToken), "a token was logged")
    }

    @Test("sinkhole export writes each ISP's files, which IntelMQ's Shadowserver parser reads row for row")
    func exportThroughIntelMQ() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        try Self.sendTraffic(setup)
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let day = try Self.today(setup)
        let out = setup.directory.appendingPathComponent("out").path

        let export = try SinkholeProcess.runToExit(["export", "--config", setup.config, "--date", day, "--all", "--out", out])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("alpha: 4 records") && export.stdout.contains("beta: 3 records"), "\(export.stdout)")
        #expect(export.stdout.contains("2 from ignored networks"), "\(export.stdout)")
        let alphaFiles = try Set(FileManager.default.contentsOfDirectory(atPath: out + "/alpha"))
        #expect(alphaFiles == ["\(day)-event4_sinkhole_http-feed-node.csv", "\(day)-event4_sinkhole_dns-feed-node.csv",
                               "\(day)-checkins-feed-node.jsonl", "\(day)-infections-feed-node.jsonl", "MANIFEST.sha256"])
        let betaFiles = try Set(FileManager.default.contentsOfDirectory(atPath: out + "/beta"))
        #expect(betaFiles == ["\(day)-event4_sinkhole_http-feed-node.csv", "\(day)-event4_sinkhole_dns-feed-node.csv",
                              "\(day)-infections-feed-node.jsonl", "MANIFEST.sha256"])

        // What IntelMQ must find, from the store: every session and DNS row of each ISP's sources.
        for (isp, source) in [("alpha", "127.0.0.1"), ("beta", "127.0.0.3")] {
            var expected = ""
            for row in try sqliteRows(setup.database, """
                SELECT src_port, strftime('%Y-%m-%dT%H:%M:%S+00:00', first_seen / 1000000, 'unixepoch'), family
                FROM checkins WHERE src_ip = '\(source)'
                """) {
                expected += "{\"file\":\"\(day)-event4_sinkhole_http-feed-node.csv\",\"src_ip\":\"\(source)\",\"src_port\":\(row[0]),\"time\":\"\(row[1])\",\"malware\":\"\(row[2])\",\"severity\":\"critical\"}\n"
            }
            for row in try sqliteRows(setup.database, """
                SELECT last_src_port, strftime('%Y-%m-%dT%H:%M:%S+00:00', first_seen / 1000000, 'unixepoch'), family
                FROM dns_queries WHERE src_ip = '\(source)' AND family != ''
                """) {
                expected += "{\"file\":\"\(day)-event4_sinkhole_dns-feed-node.csv\",\"src_ip\":\"\(source)\",\"src_port\":\(row[0]),\"time\":\"\(row[1])\",\"malware\":\"\(row[2])\",\"severity\":\"info\"}\n"
            }
            let expectedPath = setup.directory.appendingPathComponent("expected-\(isp).jsonl").path
            try expected.write(toFile: expectedPath, atomically: true, encoding: .utf8)
            let check = try IntelMQ.check(directory: out + "/\(isp)", expected: expectedPath)
            #expect(check.status == 0, "IntelMQ on \(isp):\n\(check.output)")
        }

        // Again: the same bytes. Manifest checks with sha256sum.
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/alpha/MANIFEST.sha256"))
        #expect(try SinkholeProcess.runToExit(["export", "--config", setup.config, "--date", day, "--isp", "alpha", "--out", out]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/alpha/MANIFEST.sha256")) == before)
        let sums = try runTool("/bin/sh", ["-c", "cd '\(out)/alpha' && sha256sum --check --strict MANIFEST.sha256 && echo ALL-OK"])
        #expect(sums.contains("ALL-OK"), "\(sums)")

        // On a terminal (script(1) gives it one) the export shows its progress on stderr;
        // piped, as above, it printed none.
        #expect(!export.stderr.contains("exporting:"))
        let tty = try runTool("/usr/bin/script", ["-qec", "'\(SinkholeProcess.binary)' export --config '\(setup.config)' --date \(day) --all --out '\(out)'", "/dev/null"])
        #expect(tty.contains("exporting: 9 of 9 records (100%)"), "\(tty)")
    }

    @Test("with a certificate the API speaks TLS only, and SIGHUP puts an edited ISP directory in force")
    func tlsAndReload() throws {
        let setup = try Self.makeSetup(feedsExtra: ["tls_certificate: feeds.crt", "tls_key: feeds.key"])
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let dir = setup.directory.path
        _ = try runTool("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                             "-keyout", dir + "/feeds.key", "-out", dir + "/feeds.crt", "-days", "2",
                                             "-subj", "/CN=feeds.test"])
        // check-config reads the pair; a key that is not the certificate's is refused, naming both.
        #expect(try SinkholeProcess.runToExit(["check-config", "--config", setup.config]).status == 0)
        _ = try runTool("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir + "/other.key"])
        let mismatched = setup.directory.appendingPathComponent("mismatched.yaml").path
        try String(contentsOfFile: setup.config, encoding: .utf8).replacingOccurrences(of: "tls_key: feeds.key", with: "tls_key: other.key")
            .write(toFile: mismatched, atomically: true, encoding: .utf8)
        let refused = try SinkholeProcess.runToExit(["check-config", "--config", mismatched])
        #expect(refused.status == 2 && refused.stderr.contains("feeds.tls_certificate / feeds.tls_key: the key in"), "\(refused.stderr)")

        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        try Self.sendTraffic(setup)
        let day = try Self.today(setup)
        let https = "https://127.0.0.1:\(setup.feedsPort)/v1/checkins?date=\(day)&format=jsonl"
        let overTLS = try HTTPBinaryTests.curl(["-k", "-H", "Authorization: Bearer \(Self.betaToken)", https])
        #expect(overTLS.status == "200", "\(overTLS.output)")
        #expect(overTLS.body.split(separator: "\n").count == 2, "\(overTLS.body)")
        let plain = try HTTPBinaryTests.curl(["-H", "Authorization: Bearer \(Self.betaToken)", "http://127.0.0.1:\(setup.feedsPort)/v1/checkins?date=\(day)"])
        #expect(plain.status != "200", "plain HTTP was answered: \(plain.output)")

        // Beta's token changes; after SIGHUP the old one is refused and the new one works.
        let isps = setup.directory.appendingPathComponent("isps.yaml").path
        try String(contentsOfFile: isps, encoding: .utf8)
            .replacingOccurrences(of: try Self.sha256Hex(Self.betaToken), with: try Self.sha256Hex("rotated-token"))
            .write(toFile: isps, atomically: true, encoding: .utf8)
        kill(sinkhole.process.processIdentifier, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(10)
        while !sinkhole.stderr.contains("feeds reloaded") && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try HTTPBinaryTests.curl(["-k", "-H", "Authorization: Bearer \(Self.betaToken)", https]).status == "401")
        #expect(try HTTPBinaryTests.curl(["-k", "-H", "Authorization: Bearer rotated-token", https]).status == "200")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
    }

    @Test("a million-row answer streams with flat memory, even to a slow reader")
    func millionRows() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        // The store's schema as the sinkhole makes it, then a million infected addresses of
        // alpha's (10.0.0.0/8 is added to its CIDRs) on one day, written by SQL.
        var sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        try sinkhole.waitUntilReady()
        #expect(sinkhole.terminate() == 0)
        let isps = setup.directory.appendingPathComponent("isps.yaml").path
        try String(contentsOfFile: isps, encoding: .utf8).replacingOccurrences(of: "cidrs: [\"127.0.0.1/32\"]", with: "cidrs: [\"127.0.0.1/32\", \"10.0.0.0/8\"]")
            .write(toFile: isps, atomically: true, encoding: .utf8)
        // Today: older rows would be the retention sweep's to delete while the test reads them.
        let now = Int64(Date().timeIntervalSince1970)
        let day = String(try runTool("/bin/date", ["-u", "-d", "@\(now)", "+%Y-%m-%d"]).prefix(10))
        let fill = try runTool("/usr/bin/sqlite3", [setup.database, """
            WITH RECURSIVE x(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM x WHERE i < 999999)
            INSERT INTO infections (day, src_ip, family, first_seen, last_seen, count, last_src_port)
            SELECT '\(day)', '10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256), 'example',
                   \(now * 1_000_000) + i, \(now * 1_000_000) + i, 1, 1024 + i % 60000 FROM x;
            SELECT count(*) FROM infections;
            """])
        #expect(fill.contains("1000000"), "\(fill)")

        sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let pid = sinkhole.process.processIdentifier
        func rssKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let before = rssKiB()
        // A reader at 20 MB/s: the answer (about 170 MB) takes seconds, and the server must
        // hold it back, not buffer it.
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/bin/sh")
        client.arguments = ["-c", "curl -sS --max-time 300 --limit-rate 20M -H 'Authorization: Bearer \(Self.alphaToken)' " +
                            "'http://127.0.0.1:\(setup.feedsPort)/v1/infections?since=\(day)&format=jsonl' | wc -l"]
        let out = Pipe()
        client.standardOutput = out
        try client.run()
        var peak = before
        var samples: [Int] = []
        while client.isRunning {
            let now = rssKiB()
            peak = max(peak, now)
            samples.append(now)
            Thread.sleep(forTimeInterval: 0.05)
        }
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(lines == "1000000", "rows received: \(lines)\n\(sinkhole.stderr)")
        #expect(peak - before < 64 * 1024, "RSS grew from \(before) KiB to \(peak) KiB while streaming; every second: \(stride(from: 0, to: samples.count, by: 20).map { samples[$0] })")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        // The same million as a file: `sinkhole export` streams too (its peak RSS stays far
        // below the 170 MB the rows take on disk).
        let export = Process()
        export.executableURL = URL(fileURLWithPath: SinkholeProcess.binary)
        export.arguments = ["export", "--config", setup.config, "--isp", "alpha", "--date", day, "--format", "jsonl"]
        export.standardOutput = FileHandle.nullDevice
        try export.run()
        var exportPeak = 0
        while export.isRunning {
            let status = (try? String(contentsOfFile: "/proc/\(export.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            exportPeak = max(exportPeak, Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0)
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(export.terminationStatus == 0)
        let infections = try String(contentsOfFile: setup.directory.appendingPathComponent("feeds/alpha/\(day)-infections-feed-node.jsonl").path,
                                    encoding: .utf8)
        #expect(infections.utf8.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 } == 1_000_000)
        #expect(exportPeak < 96 * 1024, "export peak RSS \(exportPeak) KiB")
    }

    @Test("export refuses what it cannot do, saying why")
    func exportErrors() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let neither = try SinkholeProcess.runToExit(["export", "--config", setup.config])
        #expect(neither.status == 64 && neither.stderr.contains("--isp NAME (repeatable) or --all"), "\(neither.stderr)")
        let badDate = try SinkholeProcess.runToExit(["export", "--config", setup.config, "--all", "--date", "2026-02-30"])
        #expect(badDate.status == 64 && badDate.stderr.contains("--date 2026-02-30: expected a UTC date"), "\(badDate.stderr)")
        let unknown = try SinkholeProcess.runToExit(["export", "--config", setup.config, "--isp", "gamma"])
        #expect(unknown.status == 64 && unknown.stderr.contains("no ISP named \"gamma\"") && unknown.stderr.contains("alpha, beta"),
                "\(unknown.stderr)")
        let noStore = try SinkholeProcess.runToExit(["export", "--config", setup.config, "--all", "--store", "/nonexistent/x.db"])
        #expect(noStore.status == 1 && noStore.stderr.contains("no store at /nonexistent/x.db"), "\(noStore.stderr)")
        let help = try SinkholeProcess.runToExit(["export", "--help"])
        #expect(help.status == 0 && help.stdout.contains("MANIFEST.sha256") && help.stdout.contains("sinkhole export --all"))
    }
}

/// IntelMQ 3.5.0 in a virtualenv of its own (`Tests/IntelMQ/setup.sh`, cached under .build).
enum IntelMQ {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func check(directory: String, expected: String) throws -> (status: Int32, output: String) {
        let root = repository.path
        let script = """
            set -e
            py=$('\(root)/Tests/IntelMQ/setup.sh' '\(root)/.build/intelmq-venv')
            "$py" '\(root)/Tests/IntelMQ/check_shadowserver.py' '\(directory)' '\(expected)'
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
