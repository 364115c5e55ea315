import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The catch-all behind the shipped `Deploy/nftables.conf`, in two network namespaces the test
/// creates and deletes: a "sinkhole" one holding the seized addresses, the ruleset and the
/// binary, and a "bot" one that dials the seized addresses on ports nothing serves. Traffic
/// stays on the veth pair between them. The rows must name the port the bot dialled, with the
/// catch-all's own port beside it.
///
/// Needs root, `ip` and `nft` (`make deps` installs nftables): CI runs as root. Elsewhere the
/// test is skipped, saying why.
@Suite("sinkhole run: catch-all behind nftables, in network namespaces", .serialized)
struct CatchAllNamespaceTests {
    static let ip = "/usr/sbin/ip"
    static let nft = "/usr/sbin/nft"
    static let nc = "/usr/bin/nc"

    static var available: Bool {
        geteuid() == 0 && [ip, nft, nc].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The repository's `Deploy/nftables.conf`, found from this file's path.
    static var ruleset: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/nftables.conf")
    }

    /// `Deploy/nftables.conf` with its definitions set to this test's addresses and ports; the
    /// rules themselves are loaded as shipped.
    static func ruleset(tcpPort: UInt16, udpPort: UInt16) throws -> String {
        let shipped = try String(contentsOf: ruleset, encoding: .utf8)
        let values = ["sinkhole_ipv4": "{ 198.51.100.10, 203.0.113.7 }", "sinkhole_ipv6": "{ 2001:db8::10, 2001:db8:7::7 }",
                      "served_tcp": "{ 53, 80, 443 }", "served_udp": "{ 53 }",
                      "catch_all_tcp": "\(tcpPort)", "catch_all_udp": "\(udpPort)", "tproxy_mark": "0x5348"]
        var replaced = Set<String>()
        let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            for (name, value) in values where line.hasPrefix("define \(name) = ") {
                replaced.insert(name)
                return "define \(name) = \(value)"
            }
            return String(line)
        }
        #expect(replaced == Set(values.keys), "Deploy/nftables.conf defines changed: the test sets \(values.keys.sorted())")
        return lines.joined(separator: "\n")
    }

    /// Runs a command to completion (bounded: `ip` and `nft` return at once, `nc` has `-w`) and
    /// returns its output; a non-zero exit fails the test with the output unless `mayFail`.
    @discardableResult
    static func run(_ command: [String], timeout: Duration = .seconds(20), mayFail: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            Issue.record("timed out: \(command.joined(separator: " "))")
            throw CancellationError()
        }
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 || mayFail else {
            Issue.record("\(command.joined(separator: " ")) exited \(process.terminationStatus):\n\(output)")
            throw CancellationError()
        }
        return output
    }

    /// The two namespaces and the veth pair between them, deleted (with everything in them)
    /// by `remove`, which the test calls whether it passed or not.
    struct Lab {
        let sinkhole: String
        let bot: String
        /// The sinkhole namespace's end of the veth pair (what the capture test captures on).
        let sinkholeInterface: String

        init() throws {
            // Unique per run, and short: interface names have at most 15 bytes.
            let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            sinkhole = "shk-sink-\(tag)"
            bot = "shk-bot-\(tag)"
            sinkholeInterface = "shs\(tag)"
            try CatchAllNamespaceTests.run([CatchAllNamespaceTests.ip, "netns", "add", sinkhole])
            do {
                try CatchAllNamespaceTests.run([CatchAllNamespaceTests.ip, "netns", "add", bot])
                try setUp(vethSink: sinkholeInterface, vethBot: "shb\(tag)")
            } catch {
                remove()
                throw error
            }
        }

        func inSinkhole(_ command: [String]) -> [String] { [CatchAllNamespaceTests.ip, "netns", "exec", sinkhole] + command }
        func inBot(_ command: [String]) -> [String] { [CatchAllNamespaceTests.ip, "netns", "exec", bot] + command }

        /// The sinkhole side has the sinkhole address on the link, the seized addresses on the
        /// same interface (routed to it, as a seized address is), and the policy routing that
        /// tproxy needs (as the ruleset's comments say); the bot routes the seized prefixes
        /// through the sinkhole. Documentation prefixes only (RFC 5737, RFC 3849).
        private func setUp(vethSink: String, vethBot: String) throws {
            try CatchAllNamespaceTests.run([CatchAllNamespaceTests.ip, "link", "add", vethSink, "netns", sinkhole, "type", "veth", "peer", "name", vethBot, "netns", bot])
            for command in [
                ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "198.51.100.10/24", "dev", vethSink],
                ["ip", "addr", "add", "203.0.113.7/32", "dev", vethSink],
                ["ip", "-6", "addr", "add", "2001:db8::10/64", "dev", vethSink, "nodad"],
                ["ip", "-6", "addr", "add", "2001:db8:7::7/128", "dev", vethSink, "nodad"],
                ["ip", "link", "set", vethSink, "up"],
                ["ip", "rule", "add", "fwmark", "0x5348", "lookup", "100"],
                ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"],
                ["ip", "-6", "rule", "add", "fwmark", "0x5348", "lookup", "100"],
                ["ip", "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100"],
            ] {
                try CatchAllNamespaceTests.run(inSinkhole([CatchAllNamespaceTests.ip] + command.dropFirst()))
            }
            for command in [
                ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "198.51.100.66/24", "dev", vethBot],
                ["ip", "-6", "addr", "add", "2001:db8::66/64", "dev", vethBot, "nodad"],
                ["ip", "link", "set", vethBot, "up"],
                ["ip", "route", "add", "203.0.113.0/24", "via", "198.51.100.10"],
                ["ip", "-6", "route", "add", "2001:db8:7::/48", "via", "2001:db8::10"],
            ] {
                try CatchAllNamespaceTests.run(inBot([CatchAllNamespaceTests.ip] + command.dropFirst()))
            }
        }

        func remove() {
            // Deleting a namespace deletes its interfaces and rules with it.
            _ = try? CatchAllNamespaceTests.run([CatchAllNamespaceTests.ip, "netns", "del", bot], mayFail: true)
            _ = try? CatchAllNamespaceTests.run([CatchAllNamespaceTests.ip, "netns", "del", sinkhole], mayFail: true)
        }
    }

    @Test("TCP redirected and UDP tproxied from unserved ports of seized addresses (IPv4 and IPv6): the dialled port stored beside the listener's",
          .enabled(if: available, "needs root, ip, nft and nc (make deps installs them; CI runs as root)"))
    func redirectedPortsRecovered() throws {
        let lab = try Lab()
        defer { lab.remove() }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (tcpPort, udpPort): (UInt16, UInt16) = (9000, 9001)
        let rules = directory.appendingPathComponent("sinkhole.nft")
        try Self.ruleset(tcpPort: tcpPort, udpPort: udpPort).write(to: rules, atomically: true, encoding: .utf8)
        try Self.run(lab.inSinkhole([Self.nft, "-f", rules.path]))
        // Loading it again replaces the table (what an operator's reload does).
        try Self.run(lab.inSinkhole([Self.nft, "-f", rules.path]))

        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: netns-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: seized
            addresses: [203.0.113.7, "2001:db8:7::7"]
        dns:
          listen: ["127.0.0.1:5353"]
        http:
          listen: []
          tls_listen: []
        catch_all:
          tcp: ["0.0.0.0:\(tcpPort)", "[::]:\(tcpPort)"]
          udp: ["0.0.0.0:\(udpPort)", "[::]:\(udpPort)"]
          idle_timeout_s: 2
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory,
                                           launcher: [Self.ip, "netns", "exec", lab.sinkhole])
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.stderr.contains("udp.transparent=yes"), "\(sinkhole.stderr)")

        // The bot dials ports nothing listens on. nc -N sends FIN after its input; -w bounds it.
        for (address, text) in [("203.0.113.7", "tcp4-4444"), ("2001:db8:7::7", "tcp6-4444")] {
            try Self.run(lab.inBot(["/bin/sh", "-c", "printf '\(text)' | \(Self.nc) -N -w 3 \(address) 4444"]))
        }
        for (address, text) in [("203.0.113.7", "udp4-5555"), ("2001:db8:7::7", "udp6-5555")] {
            let reply = try Self.run(lab.inBot(["/bin/sh", "-c", "printf '\(text)' | \(Self.nc) -u -w 1 \(address) 5555"]))
            #expect(reply.isEmpty, "the catch-all answered UDP: \(reply)")
        }
        // A served port is left alone: nothing listens on 443 here, so the connection is refused
        // and nothing is logged for it.
        try Self.run(lab.inBot([Self.nc, "-z", "-w", "2", "203.0.113.7", "443"]), mayFail: true)

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = directory.appendingPathComponent("checkins.db").path
        let rows = try sqliteRows(db, """
            SELECT transport, service, family, src_ip, dst_ip, dst_port, listener_port, redirected, first_bytes, truncated
            FROM checkins ORDER BY transport, src_ip
            """)
        #expect(rows == [
            ["tcp", "tcp", "seized", "198.51.100.66", "203.0.113.7", "4444", "\(tcpPort)", "1", "tcp4-4444", ""],
            ["tcp", "tcp", "seized", "2001:db8::66", "2001:db8:7::7", "4444", "\(tcpPort)", "1", "tcp6-4444", ""],
            ["udp", "udp", "seized", "198.51.100.66", "203.0.113.7", "5555", "\(udpPort)", "1", "udp4-5555", ""],
            ["udp", "udp", "seized", "2001:db8::66", "2001:db8:7::7", "5555", "\(udpPort)", "1", "udp6-5555", ""],
        ], "\(sinkhole.stderr)")
        #expect(try sqliteRows(db, "SELECT count(*) FROM checkins WHERE dst_port = 443") == [["0"]])
        #expect(try sqliteRows(db, "SELECT family, src_ip, count FROM infections ORDER BY src_ip")
                    == [["seized", "198.51.100.66", "2"], ["seized", "2001:db8::66", "2"]])
    }
}
