import Foundation
import Testing

/// Socket activation with systemd's own `systemd-socket-activate`, which binds the sockets,
/// waits for the first packet or connection, then execs the sinkhole in place with
/// LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES set, as systemd does for sinkhole.socket.
@Suite("sinkhole run: sockets passed by systemd", .serialized)
struct SystemdSocketsBinaryTests {
    /// `systemd-socket-activate ARGUMENTS` as a launcher for `SinkholeProcess`, inside a shell
    /// that stays the test's child: systemd-socket-activate closes every descriptor it does not
    /// pass, Foundation's own child-watch socket included, and Foundation would then take the
    /// sinkhole for exited and block in waitpid. The shell forwards SIGTERM and SIGINT to the
    /// sinkhole by PID and exits with its status. Perl first clears the signal mask the test
    /// process's thread hands down (SIGCHLD and SIGTERM blocked), which the shell's `wait` and
    /// `trap` need, as systemd's children get a clear mask.
    static func activate(_ arguments: [String]) -> [String] {
        let script = """
            "$@" & pid=$!
            trap 'kill -TERM $pid' TERM INT
            while :; do wait $pid; status=$?; kill -0 $pid 2>/dev/null || exit $status; done
            """
        return ["/usr/bin/perl", "-e", "use POSIX; sigprocmask(SIG_SETMASK, POSIX::SigSet->new); exec @ARGV or die \"exec: $!\"",
                "/bin/sh", "-c", script, "sh", "/usr/bin/systemd-socket-activate"] + arguments
    }

    static func writeConfig(_ directory: URL, dns: String, http: String, tls: String, extra: String = "") throws -> String {
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("botnet.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: activated
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: botnet
            domains: [botnet.txt]
        dns:
          listen: [\(dns)]
        http:
          listen: [\(http)]
          tls_listen: [\(tls)]
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// Waits (bounded) until systemd-socket-activate has bound its sockets, so the packet that
    /// should start the sinkhole is not refused before they exist.
    static func waitUntilListening(_ sinkhole: SinkholeProcess, sockets: Int) throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while sinkhole.stderr.components(separatedBy: "Listening on ").count - 1 < sockets {
            guard ContinuousClock.now < deadline else {
                Issue.record("systemd-socket-activate did not bind \(sockets) sockets:\n\(sinkhole.stderr)")
                throw CancellationError()
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// curl's HTTP status for `url` (`-k`: the sinkhole signs its own certificates).
    static func httpStatus(_ url: String, host: String = "cc.botnet.example") throws -> String {
        try runTool("/usr/bin/curl", ["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                                      "-A", "bot/1.0", "-H", "Host: \(host)", url])
    }

    @Test("DNS over UDP and TCP and HTTP are served on the passed sockets, the query that started the sinkhole included; TLS, not passed, is bound by the sinkhole")
    func adoptedByAddress() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (dnsPort, httpPort, tlsPort) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let config = try Self.writeConfig(directory, dns: "\"127.0.0.1:\(dnsPort)\"", http: "\"127.0.0.1:\(httpPort)\"",
                                          tls: "\"127.0.0.1:\(tlsPort)\"")
        // -d applies to every socket of one systemd-socket-activate, so UDP comes from an outer
        // one, whose descriptor the inner one passes on beside its TCP sockets (names
        // "unknown": matched by address).
        let launcher = Self.activate(["-d", "-l", "127.0.0.1:\(dnsPort)", "--",
                                      "/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:\(dnsPort)", "-l", "127.0.0.1:\(httpPort)", "--"])
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory, launcher: launcher)
        defer { sinkhole.terminate() }
        try Self.waitUntilListening(sinkhole, sockets: 1)
        // Nothing runs yet: this datagram starts the sinkhole and waits in the socket for it.
        let first = try dig(server: "127.0.0.1", port: dnsPort, name: "first.cc.botnet.example", options: ["+time=30"])
        #expect(first.answers == ["first.cc.botnet.example. 300 IN A 198.51.100.10"], "\(first.output)\n\(sinkhole.stderr)")
        try sinkhole.waitUntilReady()
        let log = sinkhole.stderr
        #expect(log.contains("socket activation: adopting the sockets systemd passed"), "\(log)")
        #expect(log.components(separatedBy: "dns listener adopted from systemd").count - 1 == 2, "\(log)")
        #expect(log.contains("http listener adopted from systemd"), "\(log)")
        #expect(log.contains("listen.address=127.0.0.1:\(tlsPort)") && log.contains("tls listener bound"), "\(log)")

        let overTCP = try dig(server: "127.0.0.1", port: dnsPort, name: "tcp.cc.botnet.example", options: ["+tcp"])
        #expect(overTCP.answers == ["tcp.cc.botnet.example. 300 IN A 198.51.100.10"], "\(overTCP.output)")
        #expect(try Self.httpStatus("http://127.0.0.1:\(httpPort)/gate.php") == "200")
        #expect(try Self.httpStatus("https://127.0.0.1:\(tlsPort)/gate.php") == "200")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        let database = directory.appendingPathComponent("checkins.db").path
        let names = try sqliteRows(database, "SELECT qname FROM dns_queries ORDER BY qname").map { $0[0] }
        #expect(names == ["first.cc.botnet.example", "tcp.cc.botnet.example"])
        let services = try sqliteRows(database, "SELECT service FROM checkins WHERE service IN ('http', 'tls') ORDER BY service").map { $0[0] }
        #expect(services == ["http", "tls"])
    }

    @Test("sockets named http and tls (FileDescriptorName=) serve those services in place of the configured addresses")
    func adoptedByName() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (dnsPort, configuredHTTP, configuredTLS) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let (passedHTTP, passedTLS) = (try freeLoopbackPort(), try freeLoopbackPort())
        let config = try Self.writeConfig(directory, dns: "\"127.0.0.1:\(dnsPort)\"", http: "\"127.0.0.1:\(configuredHTTP)\"",
                                          tls: "\"127.0.0.1:\(configuredTLS)\"")
        let launcher = Self.activate(["-l", "127.0.0.1:\(passedHTTP)", "-l", "127.0.0.1:\(passedTLS)", "--fdname=http:tls", "--"])
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory, launcher: launcher)
        defer { sinkhole.terminate() }
        try Self.waitUntilListening(sinkhole, sockets: 2)
        // This connection starts the sinkhole and is served once it is up.
        #expect(try Self.httpStatus("http://127.0.0.1:\(passedHTTP)/first") == "200", "\(sinkhole.stderr)")
        try sinkhole.waitUntilReady()
        #expect(try Self.httpStatus("https://127.0.0.1:\(passedTLS)/second") == "200")
        // The configured addresses were replaced, not bound as well.
        #expect(try Self.httpStatus("http://127.0.0.1:\(configuredHTTP)/") == "000")
        #expect(try Self.httpStatus("https://127.0.0.1:\(configuredTLS)/") == "000")
        #expect(sinkhole.stderr.contains("socket.name=http") && sinkhole.stderr.contains("socket.name=tls"), "\(sinkhole.stderr)")
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let paths = try sqliteRows(directory.appendingPathComponent("checkins.db").path,
                                   "SELECT service, http_path FROM checkins ORDER BY http_path")
        #expect(paths == [["http", "/first"], ["tls", "/second"]])
    }

    @Test("a passed socket that no configured listener has is refused: exit status 1, naming the socket and the listeners")
    func mismatch() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (dnsPort, httpPort, stray) = (try freeLoopbackPort(), try freeLoopbackPort(), try freeLoopbackPort())
        let config = try Self.writeConfig(directory, dns: "\"127.0.0.1:\(dnsPort)\"", http: "\"127.0.0.1:\(httpPort)\"", tls: "")
        let launcher = Self.activate(["-l", "127.0.0.1:\(stray)", "--"])
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory, launcher: launcher)
        defer { sinkhole.terminate() }
        try Self.waitUntilListening(sinkhole, sockets: 1)
        _ = try Self.httpStatus("http://127.0.0.1:\(stray)/")
        #expect(sinkhole.waitForExit() == 1)
        let log = sinkhole.stderr
        #expect(log.contains("descriptor 3 (unknown, tcp 127.0.0.1:\(stray)) matches no configured listener (tcp: dns.listen 127.0.0.1:\(dnsPort), http.listen 127.0.0.1:\(httpPort))"), "\(log)")
        #expect(!log.contains("sinkhole ready"))
        // Nothing was bound: the configured DNS port is free again.
        #expect(try dig(server: "127.0.0.1", port: dnsPort, name: "x.cc.botnet.example", options: ["+time=1"]).status == nil)
    }
}
