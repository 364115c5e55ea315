import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Response rate limiting in the built `sinkhole` binary: a bounded UDP flood from one loopback
/// address for names under one seized domain, every reply classified (whole answer, truncated
/// slip, or none), TCP asked right after, then SIGTERM and the SQLite file counted: every
/// query logged, the limited ones marked.
///
/// The flood is paced in windows (send a window, read its replies until all are in or none
/// came for a while), so the kernel never drops a query for a full socket buffer and the store
/// must count exactly what was sent. Bounds are worked out from the time the flood took, never
/// from an expected speed.
@Suite("Response rate limiting, end to end", .serialized)
struct RateLimitTests {
    struct Setup {
        let directory: URL
        let port: UInt16
        let config: String
        var database: String { directory.appendingPathComponent("data/checkins.db").path }
    }

    /// A config seizing cc.botnet.example, with `rateLimit` (a YAML flow mapping) under `dns`,
    /// or no `rate_limit` key at all when nil.
    static func makeSetup(rateLimit: String?) throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let port = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: rrl-test
        sinkhole_addresses: [198.51.100.10, "2001:db8::10"]
        families:
          - name: example
            domains: [example.txt]
        dns:
          listen: ["127.0.0.1:\(port)"]
          ttl: 600
        \(rateLimit.map { "  rate_limit: \($0)" } ?? "")
        writer: {batch_size: 256, flush_interval_ms: 100}
        store:
          sqlite: data/checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, port: port, config: config)
    }

    /// What the flood saw, per query.
    struct Flood {
        var sent = 0
        var full = 0
        var slips = 0
        /// Queries that got no reply at all (dropped by the limiter, or lost).
        var silent = 0
        /// Replies that were neither a whole answer nor a slip, or answered nothing sent.
        var bad: [String] = []
        /// From just before the first send to just after the last.
        var elapsed = Duration.zero
        var seconds: Double { Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18 }
        var limited: Int { sent - full }
    }

    /// `count` A queries for `f<i>.cc.botnet.example` (ID i) from 127.0.0.1, `window` at a time;
    /// each window's replies are read until all are in or none has come for `quiet` ms. Late
    /// replies are read at the end, so a slow reply is classified, not taken for a silence.
    static func flood(port: UInt16, count: Int, window: Int = 40, quietMilliseconds: Int32 = 50) throws -> Flood {
        precondition(count <= 4096)
        let client = try UDPClient(port: port, from: "127.0.0.1")
        var flood = Flood()
        var fates: [Int: Bool] = [:]  // ID → whether it was a whole answer
        func classify(_ reply: [UInt8]) {
            guard reply.count >= 12 else { flood.bad.append("runt \(reply)"); return }
            let id = Int(dnsID(reply))
            let counts = (0..<4).map { Int(reply[4 + 2 * $0]) << 8 | Int(reply[5 + 2 * $0]) }
            let truncated = reply[2] & 0x02 != 0
            let authoritativeResponse = reply[2] & 0x84 == 0x84
            guard id < flood.sent, fates[id] == nil else { flood.bad.append("unexpected ID \(id)"); return }
            if authoritativeResponse, !truncated, dnsRcode(reply) == 0, counts == [1, 1, 0, 0],
               Array(reply.suffix(4)) == [198, 51, 100, 10] {
                fates[id] = true
            } else if authoritativeResponse, truncated, dnsRcode(reply) == 0, counts == [1, 0, 0, 0] {
                fates[id] = false
            } else {
                flood.bad.append("ID \(id): \(reply)")
            }
        }
        let start = ContinuousClock.now
        while flood.sent < count {
            let first = flood.sent
            while flood.sent < min(count, first + window) {
                client.send(dnsQuery("f\(flood.sent).cc.botnet.example", id: UInt16(flood.sent)))
                flood.sent += 1
            }
            flood.elapsed = ContinuousClock.now - start
            var pending = (first..<flood.sent).filter { fates[$0] == nil }.count
            while pending > 0, let reply = receive(client, timeoutMilliseconds: quietMilliseconds) {
                let id = reply.count >= 2 ? Int(dnsID(reply)) : -1
                let wasPending = (first..<flood.sent).contains(id) && fates[id] == nil
                classify(reply)
                if wasPending && fates[id] != nil { pending -= 1 }
            }
        }
        while let reply = receive(client, timeoutMilliseconds: 1000) { classify(reply) }
        flood.full = fates.values.filter { $0 }.count
        flood.slips = fates.values.filter { !$0 }.count
        flood.silent = count - fates.count
        return flood
    }

    /// The next datagram on `client`, or nil when none comes within `timeoutMilliseconds`.
    static func receive(_ client: UDPClient, timeoutMilliseconds: Int32) -> [UInt8]? {
        var poller = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return got >= 0 ? Array(buffer[..<got]) : nil
    }

    /// Runs the binary with `rateLimit`, floods it with `count` queries, asks for the seized
    /// name over TCP, stops it, and checks that the store logged every query, the limited ones
    /// marked. Returns what the flood saw.
    static func floodAndCount(rateLimit: String?, count: Int) throws -> Flood {
        let setup = try makeSetup(rateLimit: rateLimit)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()

        let flood = try Self.flood(port: setup.port, count: count)
        #expect(flood.bad.isEmpty, "\(flood.bad.prefix(5))")
        #expect(flood.full + flood.slips + flood.silent == count)
        // TCP is never limited, however spent the client's UDP account.
        let overTCP = try dig(server: "127.0.0.1", port: setup.port, name: "cc.botnet.example", options: ["+tcp"])
        #expect(overTCP.status == "NOERROR" && !overTCP.flags.contains("tc"), "\(overTCP.output)")
        #expect(overTCP.answers == ["cc.botnet.example. 600 IN A 198.51.100.10"], "\(overTCP.output)")
        // /metrics counts what the flood saw, exactly: the limiter's slips and drops, and every
        // query logged by transport.
        let metrics = try MetricsBinaryTests.scrape(sinkhole, untilStored: count + 1)
        #expect(metrics["sinkhole_dns_rate_limited_total", ["action": "slipped"]] == Double(flood.slips))
        #expect(metrics["sinkhole_dns_rate_limited_total", ["action": "dropped"]] == Double(flood.silent))
        let udpAnswers = metrics.series("sinkhole_dns_responses_total").filter { $0.contains("transport=\"udp\"") }
            .compactMap { metrics.values[$0] }.reduce(0, +)
        #expect(udpAnswers == Double(count), "\(metrics.series("sinkhole_dns_responses_total"))")
        #expect(metrics["sinkhole_dns_responses_total", ["transport": "tcp", "rcode": "NOERROR"]] == 1)

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let flooded = try sqliteRows(setup.database, """
            SELECT sum(count), sum(rate_limited), count(*) FROM dns_queries WHERE qname LIKE 'f%.cc.botnet.example'
            """)
        // Every query sent is logged, limited or not; the limited are exactly the ones that did
        // not get a whole answer (a lost query would be missing from the count instead).
        #expect(flooded == [["\(count)", "\(flood.slips + flood.silent)", "\(count)"]],
                "full \(flood.full), slips \(flood.slips), silent \(flood.silent)")
        #expect(try sqliteRows(setup.database, "SELECT sum(count), sum(rate_limited) FROM dns_queries WHERE qname = 'cc.botnet.example'")
                == [["1", "0"]], "the TCP query is logged and not limited")
        #expect(try sqliteRows(setup.database, "SELECT sum(count), sum(rate_limited) FROM dns_queries")
                == [["\(count + 1)", "\(flood.slips + flood.silent)"]])
        #expect(try sqliteRows(setup.database, "SELECT offered, stored, dropped FROM runs") == [["\(count + 1)", "\(count + 1)", "0"]])
        return flood
    }

    @Test("at 10 per second with slip 2, a flood of 400 gets about the rate in whole answers, every other limited one slips, TCP still answers, and all 400 are logged")
    func limitedFlood() throws {
        let flood = try Self.floodAndCount(rateLimit: "{responses_per_second: 10, window: 5, slip: 2}", count: 400)
        // A fresh account holds 10 and earns 10 a second of the flood (the server sees
        // arrival times within the flood's own span).
        #expect(flood.full >= 10 && Double(flood.full) <= 10 + 10 * flood.seconds,
                "\(flood.full) whole answers in \(flood.elapsed)")
        // The first limited reply slips and then every second one (BIND's slip 2).
        #expect(abs(flood.slips - (flood.limited + 1) / 2) <= 1, "\(flood.slips) slips of \(flood.limited) limited")
        #expect(flood.silent == flood.limited - flood.slips)
    }

    @Test("with responses_per_second 0 the same flood gets every answer and nothing is marked limited")
    func unlimitedFlood() throws {
        let flood = try Self.floodAndCount(rateLimit: "{responses_per_second: 0}", count: 400)
        #expect(flood.full == 400 && flood.slips == 0 && flood.silent == 0)
    }

    @Test("rate limiting is on by default: without a rate_limit key a flood is held to 20 a second")
    func onByDefault() throws {
        let flood = try Self.floodAndCount(rateLimit: nil, count: 200)
        #expect(flood.full >= 20 && Double(flood.full) <= 20 + 20 * flood.seconds,
                "\(flood.full) whole answers in \(flood.elapsed)")
        #expect(flood.limited > 0 && flood.slips > 0)
        #expect(abs(flood.slips - (flood.limited + 1) / 2) <= 1, "\(flood.slips) slips of \(flood.limited) limited")
    }
}
