import Foundation
import Testing
@testable import SinkholeServer

/// The observability listener of the built binary: known traffic in over dig, curl and a raw
/// datagram, exact values out of /metrics as a scraper reads them; /healthz, /readyz and the
/// routes around them; a reload counted.
@Suite("sinkhole run: /metrics, /healthz, /readyz", .serialized)
struct MetricsBinaryTests {
    /// Scrapes `sinkhole`'s /metrics until the store has taken `stored` events (bounded), then
    /// returns that scrape parsed.
    static func scrape(_ sinkhole: SinkholeProcess, untilStored stored: Int, timeout: Duration = .seconds(20)) throws -> PrometheusText {
        let address = try #require(sinkhole.metricsAddress, "no metrics.listen in the ready line:\n\(sinkhole.stderr)")
        let deadline = ContinuousClock.now + timeout
        var last: PrometheusText?
        while ContinuousClock.now < deadline {
            let (status, body) = try fetch("http://\(address)/metrics")
            #expect(status == 200)
            let parsed = try PrometheusText(body)
            last = parsed
            if parsed["sinkhole_events_stored_total"] == Double(stored) { return parsed }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the store did not reach \(stored) events: \(last?["sinkhole_events_stored_total"] ?? -1)\n\(sinkhole.stderr)")
        throw CancellationError()
    }

    @Test("known traffic in, exact values out: check-ins by service and family, rcodes by transport, HTTP statuses and limits, datagrams, names, loss counters")
    func exactValues() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (dnsPort, httpPort, catchAllPort, metricsPort) = (try freeLoopbackPort(), try freeLoopbackPort(),
                                                             try freeLoopbackPort(), try freeLoopbackPort())
        try "cc.botnet.example\nbackup.botnet.example\n# a comment\n".write(
            to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: metrics-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
          - name: other
            addresses: [203.0.113.7]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: ["127.0.0.1:\(httpPort)"]
          tls_listen: []
        catch_all:
          udp: ["127.0.0.1:\(catchAllPort)"]
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        metrics: {listen: "127.0.0.1:\(metricsPort)"}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.metricsAddress == "127.0.0.1:\(metricsPort)")
        let base = "http://127.0.0.1:\(metricsPort)"

        // Before any traffic: every configured family already has its series, at 0.
        let before = try Self.scrape(sinkhole, untilStored: 0)
        #expect(before["sinkhole_checkins_total", ["service": "dns", "family": "example"]] == 0)
        #expect(before["sinkhole_infected_addresses_today", ["family": "other"]] == 0)
        #expect(before["sinkhole_ready"] == 1)

        for name in ["a.cc.botnet.example", "b.cc.botnet.example", "backup.botnet.example"] {
            #expect(try dig(server: "127.0.0.1", port: dnsPort, name: name).status == "NOERROR")
        }
        for name in ["www.example.org", "mail.example.net"] {
            #expect(try dig(server: "127.0.0.1", port: dnsPort, name: name).status == "REFUSED")
        }
        #expect(try dig(server: "127.0.0.1", port: dnsPort, name: "c.cc.botnet.example", options: ["+tcp"]).status == "NOERROR")
        for path in ["/gate.php", "/ping"] {
            let (status, _) = try fetch("http://127.0.0.1:\(httpPort)\(path)", host: "cc.botnet.example")
            #expect(status == 200)
        }
        // A request head over 16 KiB: refused with 431 and logged all the same.
        let (refused, _) = try fetch("http://127.0.0.1:\(httpPort)/big", host: "cc.botnet.example",
                                     headers: ["X-Padding: " + String(repeating: "p", count: 20_000)])
        #expect(refused == 431)
        try sendDatagram(Array("hello".utf8), port: catchAllPort)

        let metrics = try Self.scrape(sinkhole, untilStored: 10)
        let expected: [(String, [String: String], Double)] = [
            ("sinkhole_checkins_total", ["service": "dns", "family": "example"], 4),
            ("sinkhole_checkins_total", ["service": "dns", "family": "(none)"], 2),
            ("sinkhole_checkins_total", ["service": "udp", "family": "(none)"], 1),
            ("sinkhole_checkins_total", ["service": "tls", "family": "example"], 0),
            ("sinkhole_dns_responses_total", ["transport": "udp", "rcode": "NOERROR"], 3),
            ("sinkhole_dns_responses_total", ["transport": "udp", "rcode": "REFUSED"], 2),
            ("sinkhole_dns_responses_total", ["transport": "tcp", "rcode": "NOERROR"], 1),
            ("sinkhole_http_responses_total", ["service": "http", "status": "200"], 2),
            ("sinkhole_http_responses_total", ["service": "http", "status": "431"], 1),
            ("sinkhole_http_limits_total", ["limit": "head"], 1),
            ("sinkhole_http_limits_total", ["limit": "body"], 0),
            ("sinkhole_dns_rate_limited_total", ["action": "slipped"], 0),
            ("sinkhole_udp_datagrams_total", ["listener": "dns"], 5),
            ("sinkhole_udp_datagrams_total", ["listener": "catch-all"], 1),
            ("sinkhole_events_offered_total", [:], 10),
            ("sinkhole_events_stored_total", [:], 10),
            ("sinkhole_events_dropped_total", [:], 0),
            ("sinkhole_seized_names", ["family": "example"], 2),
            ("sinkhole_build_info", ["version": SinkholeVersion.string, "node": "metrics-node"], 1),
            ("sinkhole_store_failing", [:], 0),
            ("sinkhole_store_write_errors_total", [:], 0),
            ("sinkhole_writer_spill_limit_batches", [:], 16),
            ("sinkhole_reload_last_successful", [:], 1),
            ("sinkhole_ready", [:], 1),
        ]
        for (name, labels, value) in expected {
            let seen: Double? = metrics[name, labels]
            #expect(seen == value, "\(PrometheusText.key(name, labels)): \(seen.map { "\($0)" } ?? "absent")")
        }
        // HTTP check-ins: the two answered are the family's (Host); the refused one's head was
        // never read whole, so it is labelled by its destination, which is no seized address.
        let http = metrics.series("sinkhole_checkins_total").filter { $0.contains("service=\"http\"") }.compactMap { metrics.values[$0] }
        #expect(http.reduce(0, +) == 3)
        #expect(metrics["sinkhole_ring_events_dropped_total", ["ring": "dns-udp-0"]] == 0)
        // Every commit was timed: the histogram counts exactly the batches committed.
        let batches = try #require(metrics["sinkhole_writer_batches_total"])
        #expect(batches >= 1 && metrics["sinkhole_writer_batch_duration_seconds_count"] == batches)
        #expect(metrics["sinkhole_tcp_connections_limit", ["listener": "http"]] == 1024)
        #expect(metrics["sinkhole_tcp_connections_open", ["listener": "dns"]] == 0)
        let started = try #require(metrics["process_start_time_seconds"])
        #expect(abs(started - Date().timeIntervalSince1970) < 120)

        // Every catalogued metric is there, with its HELP and TYPE; counters end in _total.
        for definition in MetricCatalog.all where definition.name != MetricCatalog.pcapReceived.name
            && !definition.name.hasPrefix("sinkhole_pcap_") {
            #expect(metrics.types[definition.name] == definition.kind.rawValue, "\(definition.name)")
            #expect(metrics.help[definition.name] == definition.help, "\(definition.name)")
            if definition.kind == .counter { #expect(definition.name.hasSuffix("_total")) }
        }
        // No label value names an address, a qname or a Host: bots choose those.
        for key in metrics.values.keys {
            #expect(!key.contains("botnet") && !key.contains("example.org") && !key.contains("127.0.0.1"), "\(key)")
        }

        // A reload is counted and stamped.
        kill(sinkhole.process.processIdentifier, SIGHUP)
        _ = StoreFaultTests.waitFor("the reload", timeout: .seconds(20)) { sinkhole.stderr.contains("seized names reloaded") }
        let reloaded = try Self.scrape(sinkhole, untilStored: 10)
        #expect(reloaded["sinkhole_reloads_total", ["result": "success"]] == 1)
        #expect(reloaded["sinkhole_reloads_total", ["result": "failure"]] == 0)
        #expect((reloaded["sinkhole_reload_last_success_timestamp_seconds"] ?? 0) >= started)

        // The routes around /metrics.
        let health = try fetch("\(base)/healthz")
        #expect(health.status == 200 && health.body.contains("\"status\":\"alive\"") && health.body.contains("\"node\":\"metrics-node\""))
        let ready = try fetch("\(base)/readyz")
        #expect(ready.status == 200 && ready.body.hasPrefix("{\"checks\":") && ready.body.contains("\"ready\":true"), "\(ready.body)")
        #expect(try fetch("\(base)/nothing-here").status == 404)
        #expect(try fetch("\(base)/metrics", method: "POST").status == 405)
        #expect(try fetch("\(base)/").status == 302)
        // Bytes that are not HTTP, and a request line that is: each refused on its own
        // connection, the listener and the process unharmed.
        _ = try runTool("/bin/sh", ["-c", "head -c 8192 /dev/urandom | nc -N -w 2 127.0.0.1 \(metricsPort)"])
        let garbage = try runTool("/bin/sh", ["-c", "printf 'GET \\001\\377 HTTP/9\\r\\n\\r\\n' | nc -N -w 2 127.0.0.1 \(metricsPort)"])
        #expect(garbage.isEmpty || garbage.hasPrefix("HTTP/1.1 400"), "\(garbage)")
        #expect(try fetch("\(base)/healthz").status == 200 && sinkhole.process.isRunning)
        let status = try fetch("\(base)/status")
        #expect(status.status == 200 && status.body.contains("id=\"unique-example\""), "\(status.body.prefix(400))")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
    }

    @Test("metrics: {listen: null} binds no observability listener")
    func off() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freeLoopbackPort()
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        dns: {listen: ["127.0.0.1:\(port)"]}
        http: {listen: [], tls_listen: []}
        store: {sqlite: checkins.db}
        metrics: {listen: null}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.metricsAddress == nil, "\(sinkhole.stderr)")
        #expect(!sinkhole.stderr.contains("metrics listening"))
        #expect(sinkhole.terminate() == 0)
    }
}
