import Foundation
import SinkholeCore
import Testing

@testable import SinkholeServer

/// The example from DESIGN.md's "Configuration" section, verbatim.
let designExample = """
    node: sinkhole-1                           # stamped on every row
    sinkhole_addresses: [198.51.100.10, "2001:db8::10"]   # what A/AAAA answers point to
    families:
      - name: rustock
        domains: [/etc/sinkhole/rustock.txt]   # one name a line, covers all its subdomains; '#' comments
        addresses: [198.51.100.7]              # seized C&C addresses now routed here
        sinkhole_addresses: null               # optional: this family's own answer addresses
      - name: conficker
        domains: [/etc/sinkhole/conficker/%Y-%m-%d.txt]  # per-day lists: yesterday, today, tomorrow
    dns:
      listen: ["0.0.0.0:53", "[::]:53"]        # UDP and TCP on each
      ttl: 300
      nameservers: [ns1.sinkhole.example, ns2.sinkhole.example]   # apex NS/SOA, self-identifying
      rate_limit: {responses_per_second: 20, slip: 2, window: 15, ipv4_prefix: 24, ipv6_prefix: 56}
    http:
      listen: ["0.0.0.0:80"]
      tls_listen: ["0.0.0.0:443"]              # optional; a certificate is generated if none is given
      response: {status: 200, body_file: null}
    catch_all:
      tcp: ["0.0.0.0:8080"]                    # with an nftables redirect, every other port lands here
      udp: []
    capture:
      interface: null                          # e.g. eth0; null = off
      filter: null                             # BPF; default built from the sinkhole and seized addresses
    ring: {memory_mb: 64}
    writer: {batch_size: 4096, flush_interval_ms: 1000, session_window_s: 120}
    store:
      sqlite: /var/lib/sinkhole/checkins.db    # default
      postgres: null                           # e.g. postgres://sinkhole@db/sinkhole
      retention_days: {checkins: 30, infections: 400, dns_queries: 30}
    feeds:
      asn_map: /etc/sinkhole/pfx2as.txt
      isps: /etc/sinkhole/isps.yaml            # name, ASNs, CIDRs, token hash, abuse contact
      ignore: []                               # researchers' and crawlers' networks
      export_dir: /var/lib/sinkhole/feeds
      listen: "127.0.0.1:8443"
    metrics: {listen: "127.0.0.1:9798"}
    """

func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad test address \(text)") }
    return address
}

func listen(_ text: String) -> ListenAddress {
    guard let address = ListenAddress(text) else { fatalError("bad test listen address \(text)") }
    return address
}

@Suite("Configuration loading")
struct ConfigurationTests {
    @Test("the DESIGN.md example parses to exactly the values it shows")
    func designExampleParses() throws {
        let config = try SinkholeConfiguration(yaml: designExample, file: "/etc/sinkhole/sinkhole.yaml")
        var expected = SinkholeConfiguration(node: "sinkhole-1")
        expected.sinkholeAddresses = [ip("198.51.100.10"), ip("2001:db8::10")]
        expected.families = [
            .init(name: "rustock", domains: ["/etc/sinkhole/rustock.txt"], addresses: [ip("198.51.100.7")]),
            .init(name: "conficker", domains: ["/etc/sinkhole/conficker/%Y-%m-%d.txt"]),
        ]
        expected.dns.nameservers = ["ns1.sinkhole.example", "ns2.sinkhole.example"]
        expected.catchAll.tcp = [listen("0.0.0.0:8080")]
        expected.feeds.isConfigured = true
        #expect(config == expected)
        #expect(config.dns.listen.map(\.description) == ["0.0.0.0:53", "[::]:53"])
        #expect(config.dns.rateLimit.ipv6Prefix == 56)
        #expect(config.http.tlsListen == [listen("0.0.0.0:443")])
        #expect(config.feeds.listen == listen("127.0.0.1:8443"))
        #expect(config.metrics.listen?.port == 9798)
    }

    @Test("an empty document, an empty mapping or only comments give every default",
          arguments: ["", "{}", "# nothing configured yet\n", "---\n", "dns:\nhttp: ~\n"])
    func emptyGivesDefaults(yaml: String) throws {
        let config = try SinkholeConfiguration(yaml: yaml, file: "/etc/sinkhole/sinkhole.yaml")
        #expect(config == SinkholeConfiguration())
    }

    @Test("the defaults are the values DESIGN.md documents")
    func defaultsMatchDesign() {
        let config = SinkholeConfiguration()
        #expect(config.node == SinkholeConfiguration.hostName())
        #expect(!config.node.isEmpty)
        #expect(config.sinkholeAddresses.isEmpty && config.families.isEmpty)
        #expect(config.dns.listen.map(\.description) == ["0.0.0.0:53", "[::]:53"])
        #expect(config.dns.ttl == 300)
        let limit = config.dns.rateLimit
        #expect([limit.responsesPerSecond, limit.slip, limit.window, limit.ipv4Prefix, limit.ipv6Prefix]
                    == [20, 2, 15, 24, 56] as [Int])
        #expect(config.http.listen.map(\.description) == ["0.0.0.0:80"])
        #expect(config.http.tlsListen.map(\.description) == ["0.0.0.0:443"])
        #expect(config.http.response.status == 200 && config.http.response.bodyFile == nil)
        // No catch-all unless configured: it means something only behind Deploy/nftables.conf.
        #expect(config.catchAll.tcp.isEmpty && config.catchAll.udp.isEmpty)
        #expect(config.catchAll.readBytes == 64 && config.catchAll.idleTimeoutS == 5 && config.catchAll.maxConnections == 1024)
        #expect(config.capture.interface == nil && config.capture.filter == nil)
        #expect(config.capture.bufferMB == 64 && config.capture.snaplen == 1968)
        #expect(config.ring.memoryMB == 64)
        #expect([config.writer.batchSize, config.writer.dnsBatchSize, config.writer.flushIntervalMS, config.writer.sessionWindowS,
                 config.writer.spillBatches] == [4096, 4096, 1000, 120, 16] as [Int])
        #expect(config.store.sqlite == "/var/lib/sinkhole/checkins.db" && config.store.postgres == nil)
        let days = config.store.retentionDays
        #expect([days.checkins, days.infections, days.dnsQueries] == [30, 400, 30] as [Int])
        #expect(config.feeds.asnMap == ["/etc/sinkhole/pfx2as.txt"] && config.feeds.isps == "/etc/sinkhole/isps.yaml")
        #expect(config.feeds.ignore.isEmpty && config.feeds.exportDir == "/var/lib/sinkhole/feeds")
        #expect(config.feeds.listen.description == "127.0.0.1:8443")
        #expect(config.metrics.listen?.description == "127.0.0.1:9798")
    }

    @Test("metrics.listen: an address, or null for no observability listener")
    func metricsListen() throws {
        let off = try SinkholeConfiguration(yaml: "metrics: {listen: null}", file: "/etc/sinkhole/sinkhole.yaml")
        #expect(off.metrics.listen == nil)
        let moved = try SinkholeConfiguration(yaml: "metrics: {listen: \"[::1]:9100\"}", file: "/etc/sinkhole/sinkhole.yaml")
        #expect(moved.metrics.listen?.description == "[::1]:9100")
        #expect(try Sinkhole.checkSupported(moved).allSatisfy { !$0.contains("metrics") })
        let open = try SinkholeConfiguration(yaml: "metrics: {listen: \"0.0.0.0:9798\"}", file: "/etc/sinkhole/sinkhole.yaml")
        #expect(try Sinkhole.checkSupported(open).contains { $0.contains("metrics.listen 0.0.0.0:9798 is not a loopback address") })
    }

    @Test("capture settings: interface, a filter that compiles, buffer and snaplen")
    func captureSettings() throws {
        let yaml = """
            capture: {interface: eth0, filter: "dst net 198.51.100.0/24 and (tcp or udp)", buffer_mb: 128, snaplen: 65535}
            """
        let config = try SinkholeConfiguration(yaml: yaml, file: "/etc/sinkhole/sinkhole.yaml")
        #expect(config.capture.interface == "eth0" && config.capture.filter == "dst net 198.51.100.0/24 and (tcp or udp)")
        #expect(config.capture.bufferMB == 128 && config.capture.snaplen == 65535)
    }

    @Test("keys left out keep their defaults while their siblings are overridden")
    func partialSections() throws {
        let yaml = """
            dns: {ttl: 60, rate_limit: {slip: 0}}
            writer: {batch_size: 10, spill_batches: 3, dns_batch_size: 50000}
            store: {postgres: "postgres://sinkhole@db/sinkhole"}
            feeds: {ignore: ["192.0.2.0/24", "2001:db8:100::/40"]}
            families:
              - name: gameover_zeus-2
                addresses: ["2001:db8::7"]
                sinkhole_addresses: [198.51.100.20]
            """
        let config = try SinkholeConfiguration(yaml: yaml, file: "/etc/sinkhole/sinkhole.yaml")
        #expect(config.dns.ttl == 60 && config.dns.listen == SinkholeConfiguration.DNS().listen)
        #expect(config.dns.rateLimit.slip == 0 && config.dns.rateLimit.responsesPerSecond == 20)
        #expect(config.writer.batchSize == 10 && config.writer.flushIntervalMS == 1000 && config.writer.spillBatches == 3)
        #expect(config.writer.dnsBatchSize == 50_000)
        #expect(config.store.postgres == "postgres://sinkhole@db/sinkhole")
        #expect(config.store.sqlite == "/var/lib/sinkhole/checkins.db")
        #expect(config.feeds.ignore.map(\.description) == ["192.0.2.0/24", "2001:db8:100::/40"])
        #expect(config.families == [.init(name: "gameover_zeus-2", addresses: [ip("2001:db8::7")],
                                          sinkholeAddresses: [ip("198.51.100.20")])])
    }

    @Test("relative paths are resolved against the config file's directory")
    func relativePathsResolved() throws {
        let yaml = """
            families:
              - name: rustock
                domains: [rustock.txt, lists/./%Y-%m-%d.txt, /abs/list.txt]
            http: {tls_certificate: tls/cert.pem, tls_key: /etc/ssl/key.pem}
            store: {sqlite: data/checkins.db}
            feeds: {asn_map: pfx2as.txt, isps: ./isps.yaml, export_dir: ../feeds}
            """
        let config = try SinkholeConfiguration(yaml: yaml, file: "/srv/sinkhole/conf/sinkhole.yaml")
        #expect(config.families[0].domains
                    == ["/srv/sinkhole/conf/rustock.txt", "/srv/sinkhole/conf/lists/%Y-%m-%d.txt", "/abs/list.txt"])
        #expect(config.http.tlsCertificate == "/srv/sinkhole/conf/tls/cert.pem" && config.http.tlsKey == "/etc/ssl/key.pem")
        #expect(config.store.sqlite == "/srv/sinkhole/conf/data/checkins.db")
        #expect(config.feeds.asnMap == ["/srv/sinkhole/conf/pfx2as.txt"])
        #expect(config.feeds.isps == "/srv/sinkhole/conf/isps.yaml")
        #expect(config.feeds.exportDir == "/srv/sinkhole/feeds")
    }

    @Test("load(path:) reads a file and resolves its paths whatever the working directory")
    func loadFromDisk() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sinkhole-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("sinkhole.yaml").path
        try "store: {sqlite: checkins.db}\n".write(toFile: file, atomically: true, encoding: .utf8)
        let config = try SinkholeConfiguration.load(path: file)
        #expect(config.store.sqlite == SinkholeConfiguration.resolve("checkins.db", against: directory.path))
        #expect(config.store.sqlite.hasPrefix("/") && config.store.sqlite.hasSuffix("/checkins.db"))
    }

    @Test("a relative config file name is anchored at the current directory")
    func relativeFileName() throws {
        let config = try SinkholeConfiguration(yaml: "store: {sqlite: c.db}", file: "conf/sinkhole.yaml")
        let cwd = FileManager.default.currentDirectoryPath
        #expect(config.store.sqlite == SinkholeConfiguration.resolve("conf/c.db", against: cwd))
        #expect(SinkholeConfiguration.resolve(":memory:", against: "/x") == ":memory:")
    }

    @Test("listen addresses round-trip through their text form",
          arguments: ["127.0.0.1:5353", "[::1]:5353", "0.0.0.0:0", "[::]:53", "[2001:db8::10]:65535",
                      "255.255.255.255:1"])
    func listenRoundTrip(text: String) throws {
        let parsed = try #require(ListenAddress(text))
        #expect(parsed.description == text)
        #expect(ListenAddress(parsed.description) == parsed)
    }

    @Test("malformed listen addresses are refused",
          arguments: ["127.0.0.1", "::1:53", "2001:db8::1:53", "[::1]", "[::1]53", "[127.0.0.1]:53",
                      "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+53", "localhost:53", ":53",
                      "127.0.0.1:", "[::1:53", "127.0.0.1:5 3", ""])
    func listenRefused(text: String) {
        #expect(ListenAddress(text) == nil)
    }
}
