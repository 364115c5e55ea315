import Foundation
import Testing

/// `user:`/`group:` for hosts that start the sinkhole as root without systemd: the listeners
/// are bound (a privileged port among them) and capture is opened as root, then the process
/// becomes the account for good, before it reads a packet.
@Suite("sinkhole run: dropping root", .serialized)
struct PrivilegeDropBinaryTests {
    /// The fields of /proc/PID/status the test checks.
    static func status(_ pid: Int32, thread: Bool = false, of process: Int32 = 0) throws -> [String: String] {
        let path = thread ? "/proc/\(process)/task/\(pid)/status" : "/proc/\(pid)/status"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// A free loopback port below 1024, which only root (or CAP_NET_BIND_SERVICE) may bind; free
    /// for both TCP and UDP, as the DNS listener binds both.
    static func freePrivilegedPort() throws -> UInt16 {
        for port in UInt16(700)..<1000 where loopbackPortIsFree(port, type: SOCK_STREAM) && loopbackPortIsFree(port, type: SOCK_DGRAM) {
            return port
        }
        throw CancellationError()
    }

    @Test("as root with user: nobody: DNS on a privileged port and capture on lo are opened, then the process is nobody with no capability, and still answers, captures and stores",
          .enabled(if: getuid() == 0, "needs root to bind a privileged port and capture (CI runs as root)"))
    func dropsRoot() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // The account writes the store; it owns nothing else here.
        #expect(chown(directory.path, 65534, 65534) == 0)
        let dnsPort = try Self.freePrivilegedPort()
        let httpPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("botnet.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        // 127.0.0.3 stands for a seized C&C address: capture records what is sent to it.
        try """
        node: dropped
        user: nobody
        group: nogroup
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: botnet
            domains: [botnet.txt]
            addresses: [127.0.0.3]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: ["127.0.0.1:\(httpPort)"]
          tls_listen: []
        capture:
          interface: lo
          buffer_mb: 4
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()

        let status = try Self.status(sinkhole.process.processIdentifier)
        #expect(status["Uid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"], "\(status)")
        #expect(status["Gid"]?.split(separator: "\t") == ["65534", "65534", "65534", "65534"], "\(status)")
        #expect(status["Groups"] == "65534", "\(status)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            #expect(status[set] == "0000000000000000", "\(set): \(status)")
        }
        // Every thread, not only the one that dropped: the event loops started before it.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(sinkhole.process.processIdentifier)/task")
        for task in tasks {
            let thread = try Self.status(Int32(task)!, thread: true, of: sinkhole.process.processIdentifier)
            #expect(thread["Uid"]?.hasPrefix("65534") == true && thread["CapEff"] == "0000000000000000", "thread \(task): \(thread)")
        }

        // The order that keeps root away from every packet: capture open, then the drop, then
        // the store, then the services.
        let log = sinkhole.stderr
        let steps = ["capture open", "privileges dropped", "store opened", "sinkhole ready"].map { log.range(of: $0)?.lowerBound }
        #expect(steps.allSatisfy { $0 != nil } && steps.compactMap { $0 } == steps.compactMap { $0 }.sorted(), "\(log)")

        let answer = try dig(server: "127.0.0.1", port: dnsPort, name: "bot.cc.botnet.example")
        #expect(answer.answers == ["bot.cc.botnet.example. 300 IN A 198.51.100.10"], "\(answer.output)")
        // TCP too: an accepted connection's options are set by the account, not by root.
        let http = try runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                                  "-H", "Host: cc.botnet.example", "http://127.0.0.1:\(httpPort)/gate.php"])
        #expect(http == "200", "\(sinkhole.stderr)")
        let overTCP = try dig(server: "127.0.0.1", port: dnsPort, name: "tcp.cc.botnet.example", options: ["+tcp"])
        #expect(overTCP.answers == ["tcp.cc.botnet.example. 300 IN A 198.51.100.10"], "\(overTCP.output)")
        let peer = try LoopbackPeer("127.0.0.31")
        peer.send(Array("beacon".utf8), to: "127.0.0.3", port: 4444)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        let database = directory.appendingPathComponent("checkins.db").path
        let attributes = try FileManager.default.attributesOfItem(atPath: database)
        #expect(attributes[.ownerAccountID] as? Int == 65534, "the store belongs to the account that writes it")
        #expect(try sqliteRows(database, "SELECT qname FROM dns_queries ORDER BY qname") == [["bot.cc.botnet.example"], ["tcp.cc.botnet.example"]])
        let captured = try sqliteRows(database, "SELECT service, family, dst_port FROM checkins WHERE src_ip = '127.0.0.31'")
        #expect(captured == [["packet", "botnet", "4444"]], "\(captured)")
    }

    @Test("an account the host does not know is an error for check-config (status 2) and run (status 1), naming the key")
    func unknownAccount() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        user: no-such-sinkhole-user
        dns:
          listen: ["127.0.0.1:\(try freeLoopbackPort())"]
        http: {listen: [], tls_listen: []}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let check = try SinkholeProcess.runToExit(["check-config", "--config", config])
        #expect(check.status == 2)
        #expect(check.stderr.contains("user no-such-sinkhole-user (the user key) does not exist on this host"), "\(check.stderr)")
        let run = try SinkholeProcess.runToExit(["run", "--config", config])
        #expect(run.status == 1)
        #expect(run.stderr.contains("does not exist on this host") && !run.stderr.contains("sinkhole ready"), "\(run.stderr)")
    }
}
