import CSQLite
import Foundation
import Testing

/// The HTTP responder of the built binary, driven by real `curl` and raw sockets over
/// loopback, then every stored row read back from SQLite field by field.
@Suite("sinkhole run: HTTP end to end", .serialized)
struct HTTPBinaryTests {
    struct Setup {
        let directory: URL
        let dnsPort: UInt16
        let httpPort: UInt16
        let config: String
        var database: String { directory.appendingPathComponent("checkins.db").path }
    }

    /// DNS and HTTP on loopback; HTTP also on 127.0.0.2, the "seized C&C address" of family
    /// `seized` (a bot that reaches it without naming a seized Host is labelled by address).
    /// `httpSettings`: more keys of the `http` section, one per line (`header_timeout_s: 5`).
    static func makeSetup(httpSettings: [String] = []) throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let dnsPort = try freeLoopbackPort()
        let httpPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: http-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
          - name: seized
            addresses: [127.0.0.2]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: ["127.0.0.1:\(httpPort)", "127.0.0.2:\(httpPort)"]
          tls_listen: []
          response: {headers: {Server: Apache}, browser_text: "Sinkholed for the test"}
        \(httpSettings.map { "  \($0)\n" }.joined())writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, dnsPort: dnsPort, httpPort: httpPort, config: config)
    }

    /// Runs curl once (no retries) and returns the status code and the body.
    static func curl(_ arguments: [String]) throws -> (status: String, body: String, output: String) {
        let output = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code}"] + arguments)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"), output)
    }

    /// One stored row, every column as text (BLOBs and control bytes through hex()).
    static func row(_ database: String, path: String) throws -> [String: String] {
        let columns = ["service", "transport", "family", "name", "src_ip", "dst_ip", "dst_port", "count",
                       "http_method", "http_path", "http_version", "http_user_agent", "http_referer",
                       "http_forwarded_for", "http_content_length", "http_body_bytes", "http_body_sha256",
                       "http_header_count", "http_status", "truncated"]
        let rows = try sqliteRows(database, "SELECT \(columns.joined(separator: ", ")), src_port > 0, first_seen > 0 FROM checkins WHERE http_path = '\(path)'")
        try #require(rows.count == 1, "rows for \(path): \(rows)")
        var row: [String: String] = [:]
        for (column, value) in zip(columns + ["has_src_port", "has_time"], rows[0]) { row[column] = value }
        return row
    }

    @Test("curl over HTTP/1.0 and 1.1, keep-alive, a binary POST, odd methods and a browser: answered and stored field by field")
    func curlRequests() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let base = "http://127.0.0.1:\(setup.httpPort)"

        let get = try Self.curl(["-H", "Host: WWW.cc.botnet.example", "-A", "Bot/1.0", "-e", "http://ref.example/",
                                 "-H", "X-Forwarded-For: 203.0.113.9", "-D", "-", "\(base)/gate.php?id=7&x=%00"])
        #expect(get.status == "200", "\(get.output)")
        #expect(get.output.contains("Server: Apache\r\n") && get.output.contains("Content-Length: 0\r\n"), "\(get.output)")
        let ten = try Self.curl(["--http1.0", "-H", "Host: cc.botnet.example", "\(base)/ten"])
        #expect(ten.status == "200")
        // Three requests on one connection: curl reuses it (keep-alive).
        let thrice = try Self.curl(["-H", "Host: cc.botnet.example", "\(base)/keep1", "\(base)/keep2", "\(base)/keep3"])
        #expect(thrice.output.components(separatedBy: "200").count - 1 == 3, "\(thrice.output)")
        // A binary body with NUL, CR, LF and every other byte value.
        let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        let bodyFile = setup.directory.appendingPathComponent("body.bin")
        try Data(body).write(to: bodyFile)
        let post = try Self.curl(["-H", "Expect:", "--data-binary", "@\(bodyFile.path)", "\(base)/upload"])
        #expect(post.status == "200")
        let bodyDigest = String(try runTool("/usr/bin/sha256sum", [bodyFile.path]).prefix(64))
        for method in ["BREW", "PROPFIND", "DELETE"] {
            #expect(try Self.curl(["-X", method, "\(base)/odd-\(method)"]).status == "200")
        }
        let browser = try Self.curl(["-H", "Accept: text/html,application/xhtml+xml", "\(base)/browser"])
        #expect(browser.status == "200" && browser.body.contains("<p>Sinkholed for the test</p>"), "\(browser.output)")
        // The seized address, no seized Host: labelled by the address reached.
        #expect(try Self.curl(["http://127.0.0.2:\(setup.httpPort)/by-address"]).status == "200")
        let esc = try Self.curl(["-A", "\u{1b}[31mred\u{1b}[0m", "\(base)/esc"])
        #expect(esc.status == "200")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = setup.database

        let g = try Self.row(db, path: "/gate.php?id=7&x=%00")
        #expect(g["service"] == "http" && g["transport"] == "tcp" && g["family"] == "example")
        #expect(g["name"] == "WWW.cc.botnet.example" && g["src_ip"] == "127.0.0.1" && g["dst_ip"] == "127.0.0.1")
        #expect(g["dst_port"] == "\(setup.httpPort)" && g["count"] == "1" && g["has_src_port"] == "1" && g["has_time"] == "1")
        #expect(g["http_method"] == "GET" && g["http_version"] == "1.1" && g["http_user_agent"] == "Bot/1.0")
        #expect(g["http_referer"] == "http://ref.example/" && g["http_forwarded_for"] == "203.0.113.9")
        #expect(g["http_content_length"] == "NULL" && g["http_body_bytes"] == "0" && g["http_body_sha256"] == "")
        #expect(g["http_header_count"] == "5" && g["http_status"] == "200" && g["truncated"] == "")

        let t = try Self.row(db, path: "/ten")
        #expect(t["http_version"] == "1.0" && t["family"] == "example" && t["http_status"] == "200")

        // Keep-alive: one connection, one row per request with its own path, the same source
        // port, and event ids that number the requests after the first.
        let keep = try sqliteRows(db, """
            SELECT http_path, count, src_port, event_id LIKE '%-' || dst_port, event_id LIKE '%-' || dst_port || '-1',
                   event_id LIKE '%-' || dst_port || '-2' FROM checkins WHERE http_path LIKE '/keep%' ORDER BY first_seen
            """)
        try #require(keep.count == 3, "\(keep)")
        #expect(keep.map { $0[0] } == ["/keep1", "/keep2", "/keep3"] && keep.allSatisfy { $0[1] == "1" })
        #expect(Set(keep.map { $0[2] }).count == 1, "one connection: \(keep)")
        #expect(keep.map { Array($0[3...]) } == [["1", "0", "0"], ["0", "1", "0"], ["0", "0", "1"]])

        let p = try Self.row(db, path: "/upload")
        #expect(p["http_method"] == "POST" && p["http_content_length"] == "3000" && p["http_body_bytes"] == "3000")
        #expect(p["http_body_sha256"] == bodyDigest && p["family"] == "" && p["name"] == "127.0.0.1:\(setup.httpPort)")

        for method in ["BREW", "PROPFIND", "DELETE"] {
            #expect(try Self.row(db, path: "/odd-\(method)")["http_method"] == method)
        }
        #expect(try Self.row(db, path: "/browser")["http_status"] == "200")
        let a = try Self.row(db, path: "/by-address")
        #expect(a["family"] == "seized" && a["dst_ip"] == "127.0.0.2")
        let e = try sqliteRows(db, "SELECT hex(http_user_agent) FROM checkins WHERE http_path = '/esc'")
        #expect(e == [[Self.hex(Array("\u{1b}[31mred\u{1b}[0m".utf8))]])

        // One per check-in with a family: /gate, /ten, the three keep-alive requests; and the
        // seized address.
        let infections = try sqliteRows(db, "SELECT family, src_ip, count FROM infections ORDER BY family")
        #expect(infections == [["example", "127.0.0.1", "5"], ["seized", "127.0.0.1", "1"]])
        let run = try sqliteRows(db, "SELECT offered = stored, dropped FROM runs")
        #expect(run == [["1", "0"]])
    }

    @Test("abuse: a 100 KiB header gets 431, smuggling 400, non-HTTP bytes are logged raw, CR in a User-Agent is kept; the server still answers")
    func abuse() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let base = "http://127.0.0.1:\(setup.httpPort)"

        let big = try Self.curl(["-H", "X-Big: " + String(repeating: "b", count: 100 * 1024), "\(base)/big"])
        #expect(big.status == "431", "\(big.output.suffix(300))")
        #expect(try Self.curl(["\(base)/after-big"]).status == "200")

        func raw(_ bytes: [UInt8], from source: String) throws -> String {
            let client = try TCPClient(port: setup.httpPort, receiveTimeoutSeconds: 5, from: source)
            try client.send(bytes)
            var reply: [UInt8] = []
            while let byte = client.read(1) { reply += byte }  // until the server closes
            return String(decoding: reply, as: UTF8.self)
        }
        let smuggle = try raw(Array("POST /smuggle HTTP/1.1\r\nHost: cc.botnet.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n".utf8), from: "127.0.0.11")
        #expect(smuggle.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && !smuggle.contains("200"), "\(smuggle)")
        let cr = try raw(Array("GET /cr HTTP/1.1\r\nUser-Agent: evil\rX-Injected: 1\r\n\r\n".utf8), from: "127.0.0.12")
        #expect(cr.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(cr)")
        let tlsHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03] + [UInt8](repeating: 0xab, count: 80)
        let inputs: [(String, [UInt8])] = [
            ("127.0.0.13", tlsHello), ("127.0.0.14", Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)),
            ("127.0.0.15", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)), ("127.0.0.16", [0, 0xff, 0x1b, 0x0d, 0x0a, 0x00]),
        ]
        for (source, bytes) in inputs {
            #expect(try raw(bytes, from: source).isEmpty, "\(source) got an answer")
        }
        #expect(try Self.curl(["\(base)/still-alive"]).status == "200")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = setup.database
        #expect(try Self.row(db, path: "/big")["http_status"] == "431")
        let s = try Self.row(db, path: "/smuggle")
        #expect(s["http_status"] == "400" && s["http_content_length"] == "4" && s["family"] == "example")
        #expect(try sqliteRows(db, "SELECT count(*) FROM checkins WHERE http_path = '/hidden'") == [["0"]])
        let c = try sqliteRows(db, "SELECT hex(http_user_agent), http_status FROM checkins WHERE http_path = '/cr'")
        #expect(c == [[Self.hex(Array("evil\rX".utf8)), "400"]])
        for (source, bytes) in inputs {
            let rows = try sqliteRows(db, "SELECT service, hex(first_bytes), truncated, http_method FROM checkins WHERE src_ip = '\(source)'")
            #expect(rows == [["tcp", Self.hex(Array(bytes.prefix(64))), bytes.count > 64 ? "first_bytes" : "", ""]], "\(source)")
        }
        #expect(try sqliteRows(db, "PRAGMA integrity_check") == [["ok"]])
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02X", $0) }.joined()
    }

    @Test("check-config and run refuse an http.response.body_file that is not a readable file of at most 1 MiB, naming file, line and key; a good one is served")
    func bodyFileChecked() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let original = try String(contentsOfFile: setup.config, encoding: .utf8)
        let line = original.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("response: {") }.map { $0 + 1 } ?? 0
        try Data(count: 2 << 20).write(to: setup.directory.appendingPathComponent("big.bin"))
        for (file, complaint) in [(".", "is a directory"), ("missing.html", "no such file"), ("big.bin", "at most 1048576 bytes")] {
            try original.replacingOccurrences(of: "response: {", with: "response: {body_file: \(file), ")
                .write(toFile: setup.config, atomically: true, encoding: .utf8)
            for command in ["check-config", "run"] {
                let result = try SinkholeProcess.runToExit([command, "--config", setup.config])
                #expect(result.status == 2, "\(command) \(file): \(result.stderr)")
                #expect(result.stderr.contains("\(setup.config):\(line):") && result.stderr.contains("http.response.body_file")
                        && result.stderr.contains(complaint), "\(command) \(file): \(result.stderr)")
            }
        }
        try "<p>gone</p>".write(to: setup.directory.appendingPathComponent("page.html"), atomically: true, encoding: .utf8)
        try original.replacingOccurrences(of: "response: {", with: "response: {body_file: page.html, ")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        #expect(try SinkholeProcess.runToExit(["check-config", "--config", setup.config]).status == 0)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(try Self.curl(["http://127.0.0.1:\(setup.httpPort)/page"]).body == "<p>gone</p>")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
    }

    @Test("slowloris: 200 connections dripping a header byte a second for 15 s; ordinary requests meanwhile answered in under 1 s; every slow one gets a 408 at the deadline and is logged")
    func slowloris() throws {
        // A 5 s header deadline: three generations of 200 slow connections fit in 15 s, the
        // last closed as the 15 s end, so the test takes about as long as the attack.
        let deadline = 5.0
        let setup = try Self.makeSetup(httpSettings: ["header_timeout_s: \(Int(deadline))"])
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let base = "http://127.0.0.1:\(setup.httpPort)"

        /// One slowloris connection: a request line at once, then a header byte per tick.
        final class Slow {
            let client: TCPClient
            var reply: [UInt8] = []
            var closed = false
            init(port: UInt16) throws {
                client = try TCPClient(port: port, receiveTimeoutSeconds: 1, from: "127.0.0.21")
                try client.send(Array("GET /slowloris HTTP/1.1\r\nHost: cc.botnet.example\r\nX-Drip: ".utf8))
            }
            /// Reads what the server sent, without waiting; notes the end of the stream.
            func poll() {
                var chunk = [UInt8](repeating: 0, count: 512)
                while !closed {
                    let got = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if got > 0 {
                        reply += chunk[..<got]
                    } else {
                        if got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { closed = true }
                        return
                    }
                }
            }
        }

        let attack = 15.0
        let start = ContinuousClock.now
        func elapsed() -> Double {
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        var open = try (0..<200).map { _ in try Slow(port: setup.httpPort) }
        var finished: [Slow] = []
        var opened = 200
        var ordinary: [(status: String, seconds: Double)] = []
        var tick = 0
        // Bounded: 15 ticks of the attack, then at most 10 s for the last deadlines.
        while elapsed() < attack + 10 && !(elapsed() >= attack && open.isEmpty) {
            let tickStart = elapsed()
            for slow in open {
                slow.poll()
                if !slow.closed && slow.reply.isEmpty && elapsed() < attack { try? slow.client.send([UInt8(ascii: "a")]) }
            }
            let done = open.filter { $0.closed }
            finished += done
            open.removeAll { $0.closed }
            // Hold 200 for the whole attack: replace the closed while a newcomer's deadline
            // still falls inside it.
            while open.count < 200 && elapsed() + deadline <= attack + 0.5 {
                open.append(try Slow(port: setup.httpPort))
                opened += 1
            }
            if elapsed() < attack {
                let out = try runTool("/usr/bin/curl", ["-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                                                        "\(base)/ordinary-\(tick)"])
                let parts = out.split(separator: " ")
                ordinary.append((String(parts.first ?? ""), Double(parts.last ?? "") ?? 99))
                tick += 1
            }
            let rest = 1.0 - (elapsed() - tickStart)
            if rest > 0 { Thread.sleep(forTimeInterval: rest) }
        }
        #expect(open.isEmpty, "\(open.count) slow connections still open \(elapsed()) s in")
        #expect(ordinary.count >= 10, "\(ordinary)")
        #expect(ordinary.allSatisfy { $0.status == "200" && $0.seconds < 1 }, "\(ordinary)")
        #expect(opened >= 400, "slow connections should have been replaced as the deadline closed them: \(opened)")
        let timedOut = finished.filter { String(decoding: $0.reply, as: UTF8.self).hasPrefix("HTTP/1.1 408 Request Timeout\r\n") }
        #expect(timedOut.count == finished.count, "\(finished.count - timedOut.count) closed without a 408")
        #expect(try Self.curl(["\(base)/after-slowloris"]).status == "200")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = setup.database
        let slowRows = try sqliteRows(db, """
            SELECT count(*), sum(http_status = 408), sum(http_path = '/slowloris'), sum(family = 'example')
            FROM checkins WHERE src_ip = '127.0.0.21'
            """)
        #expect(slowRows == [["\(finished.count)", "\(finished.count)", "\(finished.count)", "\(finished.count)"]], "opened \(opened)")
        #expect(try sqliteRows(db, "SELECT count(*) FROM checkins WHERE http_path LIKE '/ordinary-%' AND http_status = 200")
                == [["\(ordinary.count)"]])
        #expect(try sqliteRows(db, "SELECT offered = stored, dropped FROM runs") == [["1", "0"]])
    }
}
