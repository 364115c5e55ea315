import Foundation
import Testing

/// `sinkhole stats` as an analyst runs it: against the store of a running sinkhole that real
/// `dig` and `curl` traffic went into, then after it stopped; JSON checked number by number.
@Suite("sinkhole stats, end to end", .serialized)
struct StatsBinaryTests {
    @Test("known traffic in, exact figures out: beside the running writer and after it stopped, as JSON and as tables")
    func knownTrafficExactFigures() throws {
        let setup = try HTTPBinaryTests.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let base = "http://127.0.0.1:\(setup.httpPort)"
        // HTTP: three bots' sessions to the seized name (two from one address), one to the
        // seized address without a seized Host.
        for _ in 0..<3 { #expect(try HTTPBinaryTests.curl(["-H", "Host: cc.botnet.example", "\(base)/gate.php"]).status == "200") }
        for _ in 0..<2 {
            #expect(try HTTPBinaryTests.curl(["--interface", "127.0.0.3", "-H", "Host: WWW.cc.botnet.example", "\(base)/g"]).status == "200")
        }
        #expect(try HTTPBinaryTests.curl(["-H", "Host: other.test", "http://127.0.0.2:\(setup.httpPort)/"]).status == "200")
        // DNS from the resolver 127.0.0.1: five seized queries, two refused.
        for _ in 0..<4 { _ = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "a.cc.botnet.example") }
        _ = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "b.cc.botnet.example")
        for _ in 0..<2 { _ = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "www.example.com") }

        func stats(_ extra: [String] = []) throws -> [String: Any] {
            let result = try SinkholeProcess.runToExit(["stats", "--config", setup.config, "--since", "1h"] + extra)
            try #require(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        }
        func events(_ json: [String: Any]) -> Int {
            ((json["services"] as? [[String: Any]]) ?? []).reduce(0) { $0 + (($1["events"] as? Int) ?? 0) }
        }
        // Beside the running writer: once everything is flushed (100 ms interval), all 13.
        let deadline = ContinuousClock.now + .seconds(20)
        var running = try stats()
        while events(running) < 13 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            running = try stats()
        }
        #expect(events(running) == 13, "\(running)")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        let json = try stats()
        let infected = (json["infected_per_day"] as? [[String: Any]] ?? []).map { "\($0["family"]!) \($0["addresses"]!)" }
        #expect(infected == ["example 2", "seized 1"], "\(json)")
        let services = (json["services"] as? [[String: Any]] ?? []).map { "\($0["service"]!) \($0["events"]!) \($0["sessions"]!)" }
        #expect(services == ["dns 7 0", "http 6 6"], "\(json)")
        let names = (json["top_names"] as? [[String: Any]] ?? []).map { "\($0["family"]!) \($0["name"]!) \($0["count"]!)" }
        #expect(names == ["example cc.botnet.example 3", "example www.cc.botnet.example 2", "seized other.test 1"], "\(json)")
        let qnames = (json["top_query_names"] as? [[String: Any]] ?? []).map { "\($0["name"]!) \($0["count"]!)" }
        #expect(qnames == ["a.cc.botnet.example 4", "b.cc.botnet.example 1"], "\(json)")
        let resolvers = (json["top_resolvers"] as? [[String: Any]] ?? []).map { "\($0["address"]!) \($0["queries"]!)" }
        #expect(resolvers == ["127.0.0.1 7"], "\(json)")
        let nodes = (json["nodes"] as? [[String: Any]] ?? []).map { "\($0["node"]!) \($0["offered"]!) \($0["stored"]!) \($0["dropped"]!)" }
        #expect(nodes == ["http-node 13 13 0"], "\(json)")

        let seized = try stats(["--family", "seized"])
        #expect((seized["services"] as? [[String: Any]] ?? []).map { "\($0["service"]!) \($0["events"]!)" } == ["http 1"])

        let table = try SinkholeProcess.runToExit(["stats", "--config", setup.config, "--since", "1h", "--format", "table"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("Check-ins per service\n  service  events  sessions\n  dns           7         0\n  http          6         6\n"),
                "\(table.stdout)")
        // Read-only: asking did not touch the file's schema or add a run.
        #expect(try sqliteRows(setup.database, "SELECT count(*) FROM runs") == [["1"]])
    }

    @Test("bad arguments exit 64 (EX_USAGE) saying what is expected; a missing store exits 1 naming it; --help shows examples")
    func errors() throws {
        let badSince = try SinkholeProcess.runToExit(["stats", "--store", "/nonexistent.db", "--since", "last tuesday"])
        #expect(badSince.status == 64)
        #expect(badSince.stderr.contains("--since last tuesday: expected a UTC date"), "\(badSince.stderr)")
        let missing = try SinkholeProcess.runToExit(["stats", "--store", "/nonexistent/checkins.db"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no store at /nonexistent/checkins.db"), "\(missing.stderr)")
        let help = try SinkholeProcess.runToExit(["stats", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("sinkhole stats --since 24h") && help.stdout.contains("--family"), "\(help.stdout)")
    }
}
