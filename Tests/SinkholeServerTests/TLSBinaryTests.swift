import CSQLite
import Foundation
import Testing

/// The TLS responder of the built binary, driven by real `curl -k` and `openssl s_client` over
/// loopback (and raw sockets for a bare hello and bytes that are not TLS), then every stored
/// row read back from SQLite field by field.
@Suite("sinkhole run: TLS end to end", .serialized)
struct TLSBinaryTests {
    struct Setup {
        let directory: URL
        let tlsPort: UInt16
        let config: String
        var database: String { directory.appendingPathComponent("checkins.db").path }
    }

    /// TLS on 127.0.0.1 and on 127.0.0.2, the "seized C&C address" of family `seized`; no
    /// certificate configured, so the sinkhole signs its own.
    static func makeSetup() throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let dnsPort = try freeLoopbackPort()
        let tlsPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: tls-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
          - name: seized
            addresses: [127.0.0.2]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: []
          tls_listen: ["127.0.0.1:\(tlsPort)", "127.0.0.2:\(tlsPort)"]
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, tlsPort: tlsPort, config: config)
    }

    /// Runs curl once and returns the status code and everything it printed.
    static func curl(_ arguments: [String]) throws -> (status: String, output: String) {
        let output = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code}"] + arguments)
        return (String(output.split(separator: "\n", omittingEmptySubsequences: false).last ?? ""), output)
    }

    /// Runs `openssl s_client` with `input` on its standard input, bounded in time.
    static func sClient(_ arguments: [String], input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client"] + arguments
        let stdin = Pipe()
        let out = Pipe()
        process.standardInput = stdin
        process.standardOutput = out
        process.standardError = out
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let deadline = ContinuousClock.now + .seconds(15)
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    static let columns = ["service", "family", "name", "src_ip", "dst_ip", "dst_port", "count", "tls_sni",
                          "tls_offered_version", "tls_offered_cipher", "tls_offered_cipher_count > 1",
                          "tls_version", "tls_cipher", "tls_completed", "http_method", "http_path",
                          "http_user_agent", "http_status", "hex(first_bytes)", "truncated"]

    /// The one row `condition` selects, every column by name.
    static func row(_ database: String, where condition: String) throws -> [String: String] {
        let rows = try sqliteRows(database, "SELECT \(columns.joined(separator: ", ")), src_port > 0, first_seen > 0 FROM checkins WHERE \(condition)")
        try #require(rows.count == 1, "rows where \(condition): \(rows)")
        var row: [String: String] = [:]
        for (column, value) in zip(columns + ["has_src_port", "has_time"], rows[0]) { row[column] = value }
        return row
    }

    @Test("curl -k and openssl s_client: SNI, version, cipher and the request inside stored; plain HTTP and the seized address too")
    func completedHandshakes() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.stderr.contains("tls listener bound"), "\(sinkhole.stderr)")
        let port = setup.tlsPort
        let host = "cc.botnet.example"

        let tls13 = try Self.curl(["-k", "--resolve", "\(host):\(port):127.0.0.1", "-A", "Bot/1.0",
                                   "https://\(host):\(port)/gate.php?id=1"])
        #expect(tls13.status == "200", "\(tls13.output)")
        let tls12 = try Self.curl(["-k", "--tlsv1.2", "--tls-max", "1.2", "--resolve", "www.\(host):\(port):127.0.0.1",
                                   "https://www.\(host):\(port)/twelve"])
        #expect(tls12.status == "200", "\(tls12.output)")
        // A name under the seized apex: the certificate names the apex and its wildcard.
        let shown = try Self.sClient(["-connect", "127.0.0.1:\(port)", "-servername", "x.\(host)", "-quiet"],
                                     input: "GET /s_client HTTP/1.1\r\nHost: x.\(host)\r\nConnection: close\r\n\r\n")
        #expect(shown.contains("HTTP/1.1 200 OK"), "\(shown)")
        let certificate = try Self.sClient(["-connect", "127.0.0.1:\(port)", "-servername", "x.\(host)", "-showcerts"], input: "")
        #expect(certificate.contains("subject=CN = \(host)"), "\(certificate)")
        // Plain HTTP sent to the TLS port is answered and logged as HTTP.
        #expect(try Self.curl(["http://127.0.0.1:\(port)/plain"]).status == "200")
        // The seized address, no SNI: labelled by the address reached.
        #expect(try Self.curl(["-k", "https://127.0.0.2:\(port)/by-address"]).status == "200")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = setup.database

        let a = try Self.row(db, where: "http_path = '/gate.php?id=1'")
        #expect(a["service"] == "tls" && a["family"] == "example" && a["name"] == "\(host):\(port)" && a["tls_sni"] == host)
        #expect(a["src_ip"] == "127.0.0.1" && a["dst_ip"] == "127.0.0.1" && a["dst_port"] == "\(port)" && a["count"] == "1")
        #expect(a["tls_offered_version"] == "TLSv1.3" && a["tls_offered_cipher"]?.hasPrefix("TLS_") == true)
        #expect(a["tls_offered_cipher_count > 1"] == "1" && a["tls_version"] == "TLSv1.3")
        #expect(["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"].contains(a["tls_cipher"] ?? ""), "\(a)")
        #expect(a["tls_completed"] == "1" && a["http_method"] == "GET" && a["http_user_agent"] == "Bot/1.0")
        #expect(a["http_status"] == "200" && a["hex(first_bytes)"] == "" && a["truncated"] == "")
        #expect(a["has_src_port"] == "1" && a["has_time"] == "1")

        let b = try Self.row(db, where: "http_path = '/twelve'")
        #expect(b["tls_version"] == "TLSv1.2" && b["tls_offered_version"] == "TLSv1.2" && b["tls_sni"] == "www.\(host)")
        #expect(b["tls_cipher"]?.hasPrefix("TLS_ECDHE_ECDSA_WITH_") == true && b["family"] == "example", "\(b)")

        let s = try Self.row(db, where: "http_path = '/s_client'")
        #expect(s["service"] == "tls" && s["tls_sni"] == "x.\(host)" && s["name"] == "x.\(host)" && s["tls_completed"] == "1")
        // The -showcerts connection: a handshake and no request, one row named by its SNI.
        let hello = try Self.row(db, where: "tls_sni = 'x.\(host)' AND http_method = ''")
        #expect(hello["service"] == "tls" && hello["name"] == "x.\(host)" && hello["tls_completed"] == "1")
        #expect(hello["family"] == "example" && hello["tls_version"] == "TLSv1.3")

        let p = try Self.row(db, where: "http_path = '/plain'")
        #expect(p["service"] == "http" && p["tls_sni"] == "" && p["tls_offered_version"] == "" && p["tls_completed"] == "0")

        let d = try Self.row(db, where: "http_path = '/by-address'")
        #expect(d["service"] == "tls" && d["family"] == "seized" && d["dst_ip"] == "127.0.0.2" && d["tls_sni"] == "")
        #expect(d["name"] == "127.0.0.2:\(port)" && d["tls_completed"] == "1")

        let run = try sqliteRows(db, "SELECT offered = stored, dropped FROM runs")
        #expect(run == [["1", "0"]])
    }

    @Test("a failed handshake, a bare hello and bytes that are not TLS are each stored: hello detail, or the bytes raw")
    func incompleteHandshakes() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let port = setup.tlsPort

        // RSA key exchange only: the sinkhole's ECDSA certificate cannot serve it, so the
        // handshake fails with "no shared cipher" after the hello was read.
        let failed = try Self.sClient(["-connect", "127.0.0.1:\(port)", "-servername", "fail.cc.botnet.example",
                                       "-tls1_2", "-cipher", "AES128-SHA"], input: "")
        #expect(failed.contains("alert") || failed.contains("handshake failure"), "\(failed)")

        // A bare client hello, then the bot leaves once the sinkhole has answered.
        let bare = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.13")
        try bare.send(TLSHelloFixtures.openSSLClientHello)
        #expect(bare.read(5)?.first == 0x16, "the sinkhole's hello")
        withExtendedLifetime(bare) {}

        let ssh = Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)
        let notTLS = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.14")
        try notTLS.send(ssh)
        #expect(notTLS.closedByPeer())
        // The SSH banner had no more to say; the listener still serves.
        #expect(try Self.curl(["-k", "https://127.0.0.1:\(port)/still-alive"]).status == "200")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = setup.database
        let f = try Self.row(db, where: "tls_sni = 'fail.cc.botnet.example'")
        #expect(f["service"] == "tls" && f["family"] == "example" && f["name"] == "fail.cc.botnet.example")
        #expect(f["tls_offered_version"] == "TLSv1.2" && f["tls_offered_cipher"] == "TLS_RSA_WITH_AES_128_CBC_SHA")
        #expect(f["tls_version"] == "" && f["tls_cipher"] == "" && f["tls_completed"] == "0" && f["http_method"] == "", "\(f)")

        let h = try Self.row(db, where: "src_ip = '127.0.0.13'")
        #expect(h["service"] == "tls" && h["tls_sni"] == "cc.botnet.example" && h["family"] == "example")
        #expect(h["tls_offered_cipher"] == "TLS_AES_256_GCM_SHA384" && h["tls_completed"] == "0" && h["tls_version"] == "TLSv1.3")
        #expect(h["http_method"] == "" && h["has_src_port"] == "1" && h["has_time"] == "1")

        let n = try Self.row(db, where: "src_ip = '127.0.0.14'")
        #expect(n["service"] == "tcp" && n["hex(first_bytes)"] == ssh.map { String(format: "%02X", $0) }.joined())
        #expect(n["tls_sni"] == "" && n["tls_offered_version"] == "")
        #expect(try sqliteRows(db, "PRAGMA integrity_check") == [["ok"]])
    }

    @Test("a configured certificate and key are served; check-config refuses a key that does not match")
    func configuredCertificate() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let dir = setup.directory.path
        for name in ["a", "b"] {
            _ = try runTool("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                                 "-nodes", "-days", "2", "-subj", "/CN=operator-\(name).example",
                                                 "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem"])
        }
        let base = try String(contentsOfFile: setup.config, encoding: .utf8)
        let mismatched = setup.directory.appendingPathComponent("mismatched.yaml").path
        try base.replacingOccurrences(of: "  listen: []\n", with: "  listen: []\n  tls_certificate: a.pem\n  tls_key: b.key\n")
            .write(toFile: mismatched, atomically: true, encoding: .utf8)
        let refused = try SinkholeProcess.runToExit(["check-config", "--config", mismatched])
        #expect(refused.status == 2 && refused.stderr.contains("does not go with the certificate"), "\(refused)")

        try base.replacingOccurrences(of: "  listen: []\n", with: "  listen: []\n  tls_certificate: a.pem\n  tls_key: a.key\n")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let checked = try SinkholeProcess.runToExit(["check-config", "--config", setup.config])
        #expect(checked.status == 0, "\(checked)")
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let shown = try Self.sClient(["-connect", "127.0.0.1:\(setup.tlsPort)", "-servername", "cc.botnet.example"], input: "")
        #expect(shown.contains("subject=CN = operator-a.example"), "\(shown)")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
    }
}
