import Foundation
import PostgresTestSupport
import Testing

/// The built binary against a real PostgreSQL (the tests' throwaway cluster): several nodes
/// writing one store, a server unreachable at start, and a server that goes away mid-run.
@Suite("sinkhole run: PostgreSQL store", .serialized)
struct PostgresBinaryTests {
    struct Node {
        let name: String
        let directory: URL
        let dnsPort: UInt16
        let httpPort: UInt16
        let config: String
    }

    /// One node's config: DNS and HTTP on loopback, the family `example` for cc.botnet.example,
    /// check-ins into the PostgreSQL store at `url`.
    static func makeNode(_ name: String, url: String, extraStore: String = "") throws -> Node {
        let directory = try makeTemporaryDirectory()
        let dnsPort = try freeLoopbackPort()
        let httpPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: \(name)
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
          postgres: "\(url)"
        \(extraStore)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Node(name: name, directory: directory, dnsPort: dnsPort, httpPort: httpPort, config: config)
    }

    /// One bot check-in over HTTP (a new connection, so a new session and source port).
    static func checkIn(_ node: Node) throws {
        let output = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                                   "-H", "Host: cc.botnet.example", "http://127.0.0.1:\(node.httpPort)/gate.php"])
        #expect(output == "200", "curl: \(output)")
    }

    static func microsNow() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    static func rows(_ cluster: PostgresCluster, _ database: String, _ sql: String) throws -> [[String]] {
        try cluster.psql(database: database, sql).split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// Two nodes writing one new database, started together (both migrate it at once: the
    /// advisory lock orders them) and ready; stopped by PID and their directories removed when
    /// released. `extraA` adds top-level config to node-a, written into its directory first.
    final class TwoNodes {
        let cluster: PostgresCluster
        let database: String
        let a: Node
        let b: Node
        let processA: SinkholeProcess
        let processB: SinkholeProcess

        init(extraA: (URL) throws -> String = { _ in "" }) throws {
            cluster = try PostgresCluster.shared()
            database = try cluster.makeDatabase()
            let url = cluster.url(database: database)
            a = try PostgresBinaryTests.makeNode("node-a", url: url)
            b = try PostgresBinaryTests.makeNode("node-b", url: url)
            let extra = try extraA(a.directory)
            if !extra.isEmpty {
                try (String(contentsOfFile: a.config, encoding: .utf8) + extra + "\n").write(toFile: a.config, atomically: true, encoding: .utf8)
            }
            processA = try SinkholeProcess(arguments: ["run", "--config", a.config], directory: a.directory)
            processB = try SinkholeProcess(arguments: ["run", "--config", b.config], directory: b.directory)
            try processA.waitUntilReady()
            try processB.waitUntilReady()
        }

        func rows(_ sql: String) throws -> [[String]] { try PostgresBinaryTests.rows(cluster, database, sql) }

        deinit {
            processA.terminate()
            processB.terminate()
            for node in [a, b] { try? FileManager.default.removeItem(at: node.directory) }
        }
    }

    @Test("the feeds of a database two nodes write: the export and the API hold both nodes' check-ins")
    func feedsFromPostgres() throws {
        let token = "pg-feed-token"
        let tokenHash = String(try runTool("/bin/sh", ["-c", "printf %s \(token) | sha256sum"]).prefix(64))
        let feedsPort = try freeLoopbackPort()
        let nodes = try TwoNodes { directory in
            try """
            - name: loop
              asns: [64500]
              cidrs: ["127.0.0.0/8"]
              abuse: abuse@loop.test
              token_sha256: "\(tokenHash)"
              formats: [shadowserver, jsonl]
            """.write(to: directory.appendingPathComponent("isps.yaml"), atomically: true, encoding: .utf8)
            return "feeds: {asn_map: [], isps: isps.yaml, export_dir: out, listen: \"127.0.0.1:\(feedsPort)\"}"
        }
        // Swift may release an object after its last use; the nodes must run to the end.
        defer { withExtendedLifetime(nodes) {} }
        let (cluster, database, a, b, processA, processB) = (nodes.cluster, nodes.database, nodes.a, nodes.b, nodes.processA, nodes.processB)
        try Self.checkIn(a)
        try Self.checkIn(b)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, try Self.rows(cluster, database, "SELECT count(*) FROM checkins") != [["2"]] {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let day = try #require(try Self.rows(cluster, database, "SELECT to_char(to_timestamp(min(first_seen) / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM checkins").first?.first)

        let api = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-H", "Authorization: Bearer \(token)",
                                                "http://127.0.0.1:\(feedsPort)/v1/checkins?date=\(day)&format=jsonl"])
        #expect(api.contains("\"node\":\"node-a\"") && api.contains("\"node\":\"node-b\""), "\(api)\n\(processA.stderr)")

        let out = a.directory.appendingPathComponent("out").path
        let export = try SinkholeProcess.runToExit(["export", "--config", a.config, "--all", "--date", day])
        #expect(export.status == 0, "\(export.stderr)")
        let csv = try String(contentsOfFile: out + "/loop/\(day)-event4_sinkhole_http-node-a.csv", encoding: .utf8)
        #expect(csv.split(separator: "\r\n").count == 3, "\(csv)")
        #expect(csv.contains("\"node-a\"\r\n") && csv.contains("\"node-b\"\r\n"), "machine_name of each row: \(csv)")
        #expect(processA.terminate() == 0 && processB.terminate() == 0)
    }

    @Test("two nodes write one database: infections counts are the sums, first/last seen span both, rows carry their node")
    func twoNodes() throws {
        let nodes = try TwoNodes()
        // Swift may release an object after its last use; the nodes must run to the end.
        defer { withExtendedLifetime(nodes) {} }
        let (cluster, database, a, b, processA, processB) = (nodes.cluster, nodes.database, nodes.a, nodes.b, nodes.processA, nodes.processB)

        let before = Self.microsNow()
        for _ in 0..<3 { try Self.checkIn(a) }
        for _ in 0..<2 { try Self.checkIn(b) }
        for node in [a, a, b] {
            let answer = try dig(server: "127.0.0.1", port: node.dnsPort, name: "x.cc.botnet.example")
            #expect(answer.status == "NOERROR")
        }
        let after = Self.microsNow()
        #expect(processA.terminate() == 0, "\(processA.stderr)")
        #expect(processB.terminate() == 0, "\(processB.stderr)")
        #expect(!processA.stderr.contains("store write failed") && !processB.stderr.contains("store write failed"))

        #expect(try Self.rows(cluster, database, "SELECT node, count(*), sum(count) FROM checkins WHERE service = 'http' GROUP BY node ORDER BY node")
                == [["node-a", "3", "3"], ["node-b", "2", "2"]])
        let infections = try Self.rows(cluster, database, "SELECT src_ip, family, count, first_seen, last_seen FROM infections")
        try #require(infections.count == 1, "\(infections)")
        #expect(infections[0][0] == "127.0.0.1" && infections[0][1] == "example" && infections[0][2] == "5")
        // First and last seen are the earliest and latest check-in of either node.
        #expect(try Self.rows(cluster, database, "SELECT min(first_seen), max(last_seen) FROM checkins WHERE service = 'http'")
                == [[infections[0][3], infections[0][4]]])
        let first = Int64(infections[0][3]) ?? 0, last = Int64(infections[0][4]) ?? 0
        #expect(before <= first && first < last && last <= after)
        // DNS makes no infection, but its summary sums both nodes' queries too.
        #expect(try Self.rows(cluster, database, "SELECT convert_from(qname, 'UTF8'), count FROM dns_queries")
                == [["x.cc.botnet.example", "3"]])
        // Each run's counters add up exactly and name their node.
        let runs = try Self.rows(cluster, database, "SELECT node, offered, stored, dropped, stopped_at IS NOT NULL FROM runs ORDER BY node")
        #expect(runs.map { $0[0] } == ["node-a", "node-b"])
        for run in runs {
            #expect(Int(run[1]) == (Int(run[2]) ?? -1) + (Int(run[3]) ?? -1) && run[4] == "t", "\(run)")
        }
        #expect(try Self.rows(cluster, database, "SELECT node, value FROM counters WHERE name = 'stored' ORDER BY node")
                == [["node-a", "5"], ["node-b", "3"]])
    }

    @Test("sinkhole stats --config with store.postgres reads every node's figures: one bot seen by two nodes is one infected address")
    func statsOverTwoNodes() throws {
        let nodes = try TwoNodes()
        // Swift may release an object after its last use; the nodes must run to the end.
        defer { withExtendedLifetime(nodes) {} }
        let (cluster, database, a, b, processA, processB) = (nodes.cluster, nodes.database, nodes.a, nodes.b, nodes.processA, nodes.processB)
        // Interleaved, so both nodes' batches meet the same infections and summary rows.
        for node in [a, b, a, b, a] { try Self.checkIn(node) }
        for node in [a, b, b] { _ = try dig(server: "127.0.0.1", port: node.dnsPort, name: "X.cc.botnet.example") }
        #expect(processA.terminate() == 0, "\(processA.stderr)")
        #expect(processB.terminate() == 0, "\(processB.stderr)")

        let result = try SinkholeProcess.runToExit(["stats", "--config", b.config, "--since", "1h"])
        try #require(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        func list(_ key: String, _ fields: [String]) -> [String] {
            (json[key] as? [[String: Any]] ?? []).map { row in fields.map { "\(row[$0] ?? "-")" }.joined(separator: " ") }
        }
        #expect(list("infected_per_day", ["family", "addresses"]) == ["example 1"], "\(json)")
        #expect(list("services", ["service", "events", "sessions"]) == ["http 5 5", "dns 3 0"], "\(json)")
        #expect(list("top_names", ["family", "name", "count"]) == ["example cc.botnet.example 5"], "\(json)")
        #expect(list("top_query_names", ["name", "count"]) == ["x.cc.botnet.example 3"], "\(json)")
        #expect(list("top_resolvers", ["address", "queries"]) == ["127.0.0.1 3"], "\(json)")
        #expect(list("nodes", ["node", "offered", "stored", "dropped"]) == ["node-a 4 4 0", "node-b 4 4 0"], "\(json)")

        let table = try SinkholeProcess.runToExit(["stats", "--config", a.config, "--since", "1h", "--format", "table"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("Check-ins per service\n  service  events  sessions\n  http          5         5\n  dns           3         0\n"),
                "\(table.stdout)")
        // Read-only: asking added no run.
        #expect(try Self.rows(cluster, database, "SELECT count(*) FROM runs") == [["2"]])
    }

    @Test("stats against an unreachable PostgreSQL exits 1 naming the server, never the password")
    func statsUnreachable() throws {
        let node = try Self.makeNode("n1", url: "postgres://sinkhole:hunter2@127.0.0.1:1/nowhere")
        defer { try? FileManager.default.removeItem(at: node.directory) }
        let result = try SinkholeProcess.runToExit(["stats", "--config", node.config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("nowhere") && !result.stderr.contains("hunter2"), "\(result.stderr)")
    }

    @Test("an unreachable PostgreSQL at start is a clear error naming the server and database, never the password; exit status 1")
    func unreachableAtStart() throws {
        let node = try Self.makeNode("n1", url: "postgresql://sinkhole:hunter2@/evidence?host=/nonexistent-sinkhole-pg")
        defer { try? FileManager.default.removeItem(at: node.directory) }
        let result = try SinkholeProcess.runToExit(["run", "--config", node.config])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("PostgreSQL store") && result.stderr.contains("/nonexistent-sinkhole-pg")
                && result.stderr.contains("evidence"), "\(result.stderr)")
        #expect(!result.stderr.contains("hunter2"), "\(result.stderr)")
    }

    @Test("the password comes from store.postgres_password_file and is never logged; a wrong or missing file stops the start")
    func passwordFileAndExactlyOneStore() throws {
        let cluster = try PostgresCluster.shared()
        let database = try cluster.makeDatabase(owner: cluster.passwordUser)
        // The role must give its password (SCRAM): the URL has none, the file has it.
        let url = cluster.passwordURL(database: database, password: nil)
        let good = try Self.makeNode("n1", url: url, extraStore: "  postgres_password_file: pw.txt")
        defer { try? FileManager.default.removeItem(at: good.directory) }
        try "\(cluster.password)\n".write(to: good.directory.appendingPathComponent("pw.txt"), atomically: true, encoding: .utf8)
        let process = try SinkholeProcess(arguments: ["run", "--config", good.config], directory: good.directory)
        defer { process.terminate() }
        try process.waitUntilReady()
        try Self.checkIn(good)
        #expect(process.terminate() == 0)
        #expect(process.stderr.contains("store opened") && !process.stderr.contains(cluster.password), "\(process.stderr)")
        #expect(try Self.rows(cluster, database, "SELECT count FROM infections") == [["1"]])

        try "not-the-password\n".write(to: good.directory.appendingPathComponent("pw.txt"), atomically: true, encoding: .utf8)
        let wrong = try SinkholeProcess.runToExit(["run", "--config", good.config])
        #expect(wrong.status == 1 && wrong.stderr.contains("PostgreSQL store") && wrong.stderr.contains(database), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("not-the-password"), "\(wrong.stderr)")

        let missing = try Self.makeNode("n1", url: url, extraStore: "  postgres_password_file: nope.txt")
        defer { try? FileManager.default.removeItem(at: missing.directory) }
        let refused = try SinkholeProcess.runToExit(["run", "--config", missing.config])
        #expect(refused.status == 1 && refused.stderr.contains("postgres_password_file"), "\(refused.stderr)")

        let both = try Self.makeNode("n1", url: url, extraStore: "  sqlite: checkins.db")
        defer { try? FileManager.default.removeItem(at: both.directory) }
        let check = try SinkholeProcess.runToExit(["check-config", "--config", both.config])
        #expect(check.status == 2 && check.stderr.contains("store.sqlite") && check.stderr.contains("exactly one"), "\(check.stderr)")
    }

    @Test("PostgreSQL stopped mid-run: answers go on, one log line per state change, catch-up after restart, offered == stored + dropped")
    func serverStoppedMidRun() throws {
        let cluster = try PostgresCluster.makePrivate()
        defer { cluster.destroy() }
        let database = try cluster.makeDatabase()
        let node = try Self.makeNode("n1", url: cluster.url(database: database))
        defer { try? FileManager.default.removeItem(at: node.directory) }
        let process = try SinkholeProcess(arguments: ["run", "--config", node.config], directory: node.directory)
        defer { process.terminate() }
        try process.waitUntilReady()
        for _ in 0..<2 { try Self.checkIn(node) }

        cluster.stop()
        // Check-ins while the store is down are still answered (the responders never wait for
        // the store) and kept in the writer's spill of batches (writer.spill_batches) and the rings.
        for _ in 0..<5 {
            try Self.checkIn(node)
            #expect(try dig(server: "127.0.0.1", port: node.dnsPort, name: "cc.botnet.example").status == "NOERROR")
            Thread.sleep(forTimeInterval: 0.3)
        }
        try Self.waitFor(process, "store write failed")
        try cluster.start()
        try Self.waitFor(process, "store writable again")
        try Self.checkIn(node)
        #expect(process.terminate() == 0, "\(process.stderr)")

        let log = process.stderr
        #expect(log.components(separatedBy: "store write failed").count - 1 == 1, "\(log)")
        #expect(log.components(separatedBy: "store writable again").count - 1 == 1, "\(log)")
        let run = try Self.rows(cluster, database, "SELECT offered, stored, dropped FROM runs")
        try #require(run.count == 1)
        let offered = Int(run[0][0]) ?? -1, stored = Int(run[0][1]) ?? -1, dropped = Int(run[0][2]) ?? -1
        #expect(offered == stored + dropped && dropped == 0 && stored > 0, "\(run)")
        // Every stored event is in a row: HTTP check-ins in checkins (and infections), DNS
        // queries in dns_queries (DNS makes no checkins row).
        let http = try Self.rows(cluster, database, "SELECT service, sum(count) FROM checkins GROUP BY service")
        let infections = try Self.rows(cluster, database, "SELECT sum(count) FROM infections")
        let dns = try Self.rows(cluster, database, "SELECT sum(count) FROM dns_queries")
        #expect(http == [["http", "8"]] && infections == [["8"]] && dns == [["5"]], "\(http) \(infections) \(dns)\n\(log)")
        #expect(stored == 8 + 5, "\(run)")
    }

    /// Waits (bounded, 30 s) for a line in the sinkhole's log.
    static func waitFor(_ process: SinkholeProcess, _ text: String) throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if process.stderr.contains(text) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("no \"\(text)\" in the log within 30 s:\n\(process.stderr)")
        throw CancellationError()
    }
}
