import Foundation
import SinkholeCore
import SinkholeFeeds
import Testing

@testable import SinkholeServer

@Suite("Feeds configuration: prefix2as files and the ISP directory")
struct FeedsConfigurationTests {
    static let token = String(repeating: "ab", count: 32)

    @Test("asn_map takes one path or a list, resolved against the config's directory; null means no map")
    func asnMapForms() throws {
        let one = try SinkholeConfiguration(yaml: "feeds: {asn_map: pfx2as.txt.gz}", file: "/srv/conf/sinkhole.yaml")
        #expect(one.feeds.asnMap == ["/srv/conf/pfx2as.txt.gz"] && one.feeds.isConfigured)
        let two = try SinkholeConfiguration(yaml: "feeds:\n  asn_map: [rv2.pfx2as, /data/rv6.pfx2as]\n", file: "/srv/conf/sinkhole.yaml")
        #expect(two.feeds.asnMap == ["/srv/conf/rv2.pfx2as", "/data/rv6.pfx2as"])
        #expect(try SinkholeConfiguration(yaml: "feeds: {asn_map: null}", file: "/c.yaml").feeds.asnMap.isEmpty)
        #expect(try SinkholeConfiguration(yaml: "node: x", file: "/c.yaml").feeds.isConfigured == false)
        let error = try #require(throws: ConfigurationErrors.self) {
            try SinkholeConfiguration(yaml: "feeds:\n  asn_map: [a.txt, {x: 1}]\n", file: "/c.yaml")
        }
        #expect(error.description.hasPrefix("/c.yaml:2:20: feeds.asn_map[1]: expected a file path"), "\(error)")
    }

    @Test("load() builds the attributor from the files the section names")
    func load() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "203.0.113.0\t24\t64500\n".write(to: directory.appendingPathComponent("rv2.txt"), atomically: true, encoding: .utf8)
        try "2001:db8::\t32\t64501\n".write(to: directory.appendingPathComponent("rv6.txt"), atomically: true, encoding: .utf8)
        try "- {name: isp-a, asns: [64500], abuse: a@a.test, token_sha256: \(Self.token)}\n"
            .write(to: directory.appendingPathComponent("isps.yaml"), atomically: true, encoding: .utf8)
        let config = try SinkholeConfiguration(
            yaml: "feeds: {asn_map: [rv2.txt, rv6.txt], isps: isps.yaml, ignore: [203.0.113.128/25]}",
            file: directory.appendingPathComponent("sinkhole.yaml").path)
        let attributor = try config.feeds.load()
        #expect(attributor.attribute(IPAddress(ipv4: 0xCB00_7105)) == Attribution(asn: 64500, isp: "isp-a", ignored: false))
        #expect(attributor.attribute(IPAddress(ipv4: 0xCB00_7185)) == Attribution(asn: 64500, isp: nil, ignored: true))
        #expect(attributor.attribute(IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: 1)).asn == 64501)
    }

    @Test("check-config loads the feed files, reports prefix and ISP counts, and names file:line of a bad line")
    func checkConfig() throws {
        let setup = try SinkholeBinaryTests.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let files = setup.directory
        try "# rv2\n203.0.113.0\t24\t64500\n198.51.100.0\t24\t64501_64502\n"
            .write(to: files.appendingPathComponent("rv2.txt"), atomically: true, encoding: .utf8)
        try "2001:db8::\t32\t64503\n".write(to: files.appendingPathComponent("rv6.txt"), atomically: true, encoding: .utf8)
        try "- name: isp-a\n  asns: [64500]\n  abuse: a@a.test\n  token_sha256: \(Self.token)\n"
            .write(to: files.appendingPathComponent("isps.yaml"), atomically: true, encoding: .utf8)
        let original = try String(contentsOfFile: setup.config, encoding: .utf8)
        try (original + "\nfeeds:\n  asn_map: [rv2.txt, rv6.txt]\n  isps: isps.yaml\n  ignore: [\"10.0.0.0/8\"]\n")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let ok = try SinkholeProcess.runToExit(["check-config", "--config", setup.config])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("feeds: 2 IPv4 and 1 IPv6 prefixes, 1 ISP, 1 ignored network"), "\(ok.stdout)")

        // A damaged prefix2as line: exit 2, naming the file and line.
        let rv6 = files.appendingPathComponent("rv6.txt").path
        try "2001:db8::\t32\t64503\n2001:db8:1::\t200\t1\n".write(toFile: rv6, atomically: true, encoding: .utf8)
        let badMap = try SinkholeProcess.runToExit(["check-config", "--config", setup.config])
        #expect(badMap.status == 2 && badMap.stderr.contains("\(rv6):2: \"200\" is not a prefix length for IPv6"), "\(badMap.stderr)")

        // A bad ISP entry: file, line and key.
        try "2001:db8::\t32\t64503\n".write(toFile: rv6, atomically: true, encoding: .utf8)
        let isps = files.appendingPathComponent("isps.yaml").path
        try "- name: isp-a\n  asns: [64500]\n  abuse: a@a.test\n  token_sha256: nothex\n".write(toFile: isps, atomically: true, encoding: .utf8)
        let badISP = try SinkholeProcess.runToExit(["check-config", "--config", setup.config])
        #expect(badISP.status == 2 && badISP.stderr.contains("\(isps):4:17: [0].token_sha256: \"nothex\" is not 64 hex digits"), "\(badISP.stderr)")

        // Without a feeds section no feed file is read (the defaults under /etc need not exist).
        try original.write(toFile: setup.config, atomically: true, encoding: .utf8)
        let noFeeds = try SinkholeProcess.runToExit(["check-config", "--config", setup.config])
        #expect(noFeeds.status == 0 && !noFeeds.stdout.contains("feeds:"), "\(noFeeds.stdout)\(noFeeds.stderr)")
    }
}
