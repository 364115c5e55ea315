import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Live capture on the sinkhole's end of a veth pair, in the two network namespaces
/// `CatchAllNamespaceTests.Lab` creates and deletes (no nftables here: ports nobody serves
/// answer with a RST, as on a host without the catch-all). Traffic stays between them.
@Suite("sinkhole run: live capture in network namespaces", .serialized)
struct CaptureNamespaceTests {
    typealias Lab = CatchAllNamespaceTests.Lab
    static let ip = CatchAllNamespaceTests.ip
    static let nc = CatchAllNamespaceTests.nc

    static var available: Bool {
        geteuid() == 0 && [ip, nc].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("SYNs to a port nobody serves are stored from the wire; an HTTP request is stored once, the SYN's row enriched with the responder's detail",
          .enabled(if: available, "needs root, ip and nc (make deps installs them; CI runs as root)"))
    func liveCapture() throws {
        let lab = try Lab()
        defer { lab.remove() }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let domains = directory.appendingPathComponent("seized.txt").path
        try "cc.botnet.example\n".write(toFile: domains, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: capture-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: seized
            domains: [\(domains)]
            addresses: [203.0.113.7]
        dns:
          listen: ["127.0.0.1:5353"]
        http:
          listen: ["0.0.0.0:80"]
          tls_listen: []
        capture:
          interface: \(lab.sinkholeInterface)
          buffer_mb: 4
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        metrics: {listen: "127.0.0.1:9798"}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory,
                                           launcher: [Self.ip, "netns", "exec", lab.sinkhole])
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.stderr.contains("capture open"), "\(sinkhole.stderr)")

        // Two connection attempts to a port nothing listens on: refused at once (RST).
        for _ in 0..<2 {
            try CatchAllNamespaceTests.run(lab.inBot([Self.nc, "-z", "-w", "2", "203.0.113.7", "4444"]), mayFail: true)
        }
        // One HTTP request to the responder; nc -N closes after the request, -w bounds the wait.
        let request = "GET /gate.php?id=7 HTTP/1.1\\r\\nHost: cc.botnet.example\\r\\nUser-Agent: bot/2.0\\r\\nConnection: close\\r\\n\\r\\n"
        let reply = try CatchAllNamespaceTests.run(lab.inBot(["/bin/sh", "-c", "printf '\(request)' | \(Self.nc) -N -w 3 198.51.100.10 80"]))
        #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply)")

        // pcap's own counters on /metrics (read from the capture thread every 5 s): what the
        // kernel passed the filter, and no drop.
        let interface = ["interface": lab.sinkholeInterface]
        var scraped: PrometheusText?
        _ = try StoreFaultTests.waitFor("pcap statistics on /metrics", timeout: .seconds(15)) {
            let text = try CatchAllNamespaceTests.run(lab.inSinkhole(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9798/metrics"]))
            scraped = try PrometheusText(text)
            return (scraped?["sinkhole_pcap_received_packets_total", interface] ?? 0) >= 3
        }
        #expect(scraped?["sinkhole_pcap_dropped_packets_total", interface] == 0)
        #expect(scraped?["sinkhole_pcap_interface_dropped_packets_total", interface] == 0)

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        #expect(sinkhole.stderr.contains("capture finished"), "\(sinkhole.stderr)")
        let db = directory.appendingPathComponent("checkins.db").path
        #expect(try sqliteRows(db, """
            SELECT transport, service, family, src_ip, dst_ip, dst_port, count, tcp_flags, listener_port
            FROM checkins WHERE dst_port = 4444
            """) == [
            ["tcp", "packet", "seized", "198.51.100.66", "203.0.113.7", "4444", "1", "2", "0"],
            ["tcp", "packet", "seized", "198.51.100.66", "203.0.113.7", "4444", "1", "2", "0"],
        ], "\(sinkhole.stderr)")
        // One row for the HTTP connection: the responder's service and detail on it, the SYN's
        // flag (and the request segment's PSH|ACK) from the capture, the earliest time the SYN's.
        let http = try sqliteRows(db, """
            SELECT service, family, src_ip, dst_ip, dst_port, http_method, http_path, http_user_agent, name, http_status,
                   tcp_flags & 2, count >= 2, first_seen < last_seen FROM checkins WHERE dst_port = 80
            """)
        #expect(http == [["http", "seized", "198.51.100.66", "198.51.100.10", "80", "GET", "/gate.php?id=7", "bot/2.0",
                          "cc.botnet.example", "200", "2", "1", "1"]], "\(sinkhole.stderr)")
        #expect(try sqliteRows(db, "SELECT count(*) FROM checkins") == [["3"]])
    }
}
