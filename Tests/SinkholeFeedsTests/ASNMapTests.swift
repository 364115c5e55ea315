import Foundation
import SinkholeCore
import Testing

@testable import SinkholeFeeds

/// A directory of files for one test, removed when the test ends.
final class MappingScratch {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-mapping-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes `text` to `name` in the directory and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Compresses `path` with the system gzip, as CAIDA's `.gz` files are made; returns the
    /// `.gz` path.
    func gzip(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-kf", path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return path + ".gz"
    }
}

func testAddress(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad test address \(text)") }
    return address
}

func testCIDR(_ text: String) -> CIDR {
    guard let cidr = CIDR(text) else { fatalError("bad test CIDR \(text)") }
    return cidr
}

@Suite("ASN map: CAIDA prefix2as files")
struct ASNMapFileTests {
    /// Lines as CAIDA writes them (routeviews-rv2-*.pfx2as and routeviews-rv6-*.pfx2as).
    static let sample = """
        # routeviews prefix2as, abridged
        1.0.0.0\t24\t13335
        1.0.4.0\t22\t38803

        8.8.8.0\t24\t15169
        8.0.0.0\t9\t3356_1299
        185.0.0.0\t16\t64500,64501,64502
        2001:db8::\t32\t64510
        2001:db8:100::\t40\t64511_64512
        """

    @Test("reads prefixes, multi-origin a_b and AS sets a,b take the first AS, comments and blank lines are skipped")
    func sampleFile() throws {
        let scratch = try MappingScratch()
        let map = try ASNMap.load(paths: [try scratch.write("pfx2as.txt", Self.sample)])
        #expect(map.prefixCount == 7)
        #expect(map.prefixCounts.v4 == 5 && map.prefixCounts.v6 == 2)
        #expect(map.asn(for: testAddress("1.0.0.77")) == 13335)
        #expect(map.asn(for: testAddress("1.0.7.255")) == 38803)
        #expect(map.asn(for: testAddress("8.8.8.8")) == 15169)
        #expect(map.asn(for: testAddress("8.8.9.1")) == 3356)
        #expect(map.asn(for: testAddress("185.0.255.255")) == 64500)
        #expect(map.asn(for: testAddress("2001:db8:1::1")) == 64510)
        #expect(map.asn(for: testAddress("2001:db8:1ff:ffff::1")) == 64511)
        #expect(map.asn(for: testAddress("1.0.8.0")) == nil)
        #expect(map.asn(for: testAddress("2001:db9::1")) == nil)
        // An IPv4 prefix never answers for the IPv4-mapped IPv6 address, nor the reverse.
        #expect(map.asn(for: testAddress("::ffff:8.8.8.8")) == nil)
    }

    @Test("CRLF line ends and spaces between fields are tolerated")
    func crlf() throws {
        let scratch = try MappingScratch()
        let map = try ASNMap.load(paths: [try scratch.write("crlf.txt", "1.0.0.0\t24\t13335\r\n9.9.9.0 24  19281\r\n")])
        #expect(map.asn(for: testAddress("1.0.0.1")) == 13335 && map.asn(for: testAddress("9.9.9.9")) == 19281)
    }

    @Test("IPv4 and IPv6 files load together, plain or gzip-compressed")
    func twoFilesAndGzip() throws {
        let scratch = try MappingScratch()
        let v4 = try scratch.gzip(try scratch.write("rv2.pfx2as", "203.0.113.0\t24\t64500\n"))
        let v6 = try scratch.write("rv6.pfx2as", "2001:db8::\t32\t64501\n")
        let map = try ASNMap.load(paths: [v4, v6])
        #expect(map.prefixCount == 2)
        #expect(map.asn(for: testAddress("203.0.113.9")) == 64500 && map.asn(for: testAddress("2001:db8::9")) == 64501)
        // The gzip magic decides, not the name.
        let renamed = scratch.directory + "/rv2-copy.txt"
        try FileManager.default.copyItem(atPath: v4, toPath: renamed)
        #expect(try ASNMap.load(paths: [renamed]).asn(for: testAddress("203.0.113.1")) == 64500)
    }

    @Test("a prefix listed again, in the same file or a later one, takes its last AS")
    func relisted() throws {
        let scratch = try MappingScratch()
        let first = try scratch.write("a.txt", "203.0.113.0\t24\t1\n203.0.113.0\t24\t2\n")
        let second = try scratch.write("b.txt", "203.0.113.0\t24\t3\n")
        #expect(try ASNMap.load(paths: [first]).asn(for: testAddress("203.0.113.1")) == 2)
        let both = try ASNMap.load(paths: [first, second])
        #expect(both.asn(for: testAddress("203.0.113.1")) == 3 && both.prefixCount == 1)
    }

    @Test("every bad line is reported as file:line with the reason", arguments: [
        ("1.0.0.0\t24", "found 2 fields"),
        ("1.0.0.0\t24\t13335\textra", "more than 3 fields"),
        ("1.0.0\t24\t13335", "\"1.0.0\" is not an IPv4 or IPv6 address"),
        ("1.0.0.0\t33\t13335", "\"33\" is not a prefix length for IPv4 (0 to 32)"),
        ("2001:db8::\t129\t1", "\"129\" is not a prefix length for IPv6 (0 to 128)"),
        ("1.0.0.0\t-1\t13335", "\"-1\" is not a prefix length"),
        ("1.0.0.1\t24\t13335", "1.0.0.1/24 has host bits set below /24"),
        ("2001:db8::1\t64\t1", "has host bits set below /64"),
        ("1.0.0.0\t24\tAS13335", "\"AS13335\" is not an AS number"),
        ("1.0.0.0\t24\t4294967295", "is not an AS number"),
        ("1.0.0.0\t24\t99999999999", "is not an AS number"),
        ("1.0.0.0\t24\t_13335", "is not an AS number"),
        ("1.0.0.0\t24\t1\u{1}", "\"1\\x01\" is not an AS number"),
    ])
    func badLine(line: String, reason: String) throws {
        let scratch = try MappingScratch()
        let path = try scratch.write("bad.txt", "# header\n1.0.4.0\t22\t38803\n\(line)\n8.8.8.0\t24\t15169\n")
        let error = try #require(throws: ASNMapError.self) { try ASNMap.load(paths: [path]) }
        #expect(error.problems.count == 1)
        #expect(error.description.hasPrefix("\(path):3: "), "\(error)")
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test("all bad lines of all files are reported, the listing bounded")
    func manyBadLines() throws {
        let scratch = try MappingScratch()
        let a = try scratch.write("a.txt", "1.0.0.0\t24\t1\nnonsense\n")
        let b = try scratch.write("b.txt", String(repeating: "x\ty\tz\n", count: 30))
        let error = try #require(throws: ASNMapError.self) { try ASNMap.load(paths: [a, b]) }
        #expect(error.problems.count == 31)
        #expect(error.problems[0] == .init(file: a, line: 2, reason: "expected prefix<TAB>length<TAB>asn, found 1 field"))
        #expect(error.problems[30].file == b && error.problems[30].line == 30)
        let lines = error.description.split(separator: "\n")
        #expect(lines.count == ASNMapError.listed + 1 && lines.last == "… and 11 more bad lines", "\(error)")
        // A file of the wrong kind: the first bad lines are kept, the rest only counted.
        let huge = try scratch.write("huge.txt", String(repeating: "not a prefix line\n", count: ASNMapError.kept + 500))
        let hugeError = try #require(throws: ASNMapError.self) { try ASNMap.load(paths: [huge]) }
        #expect(hugeError.problems.count == ASNMapError.kept && hugeError.omitted == 500)
        #expect(hugeError.problems.last?.line == ASNMapError.kept)
        #expect(hugeError.description.hasSuffix("… and \(ASNMapError.kept + 500 - ASNMapError.listed) more bad lines"))
    }

    @Test("a missing file, a directory, an empty file and broken gzip are errors naming the file")
    func unreadable() throws {
        let scratch = try MappingScratch()
        let missing = scratch.directory + "/missing.txt"
        let empty = try scratch.write("empty.txt", "# only a comment\n\n")
        let broken = try scratch.write("broken.gz", [0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02])
        let error = try #require(throws: ASNMapError.self) {
            try ASNMap.load(paths: [missing, scratch.directory, empty, broken])
        }
        #expect(error.problems.map(\.file) == [missing, scratch.directory, empty, broken])
        #expect(error.problems[0].reason.contains("no such file"))
        #expect(error.problems[1].reason.contains("directory"))
        #expect(error.problems[2].reason.contains("no prefixes"))
        #expect(error.problems[3].reason.contains("not a valid gzip file"), "\(error)")
    }
}

@Suite("ASN map: longest-prefix match")
struct ASNMapLookupTests {
    @Test("the most specific prefix wins over IPv4, from /0 to /32, at both edges of each")
    func ipv4Nesting() {
        let map = ASNMap(prefixes: [
            (testCIDR("0.0.0.0/0"), 1), (testCIDR("10.0.0.0/8"), 8), (testCIDR("10.1.0.0/16"), 16),
            (testCIDR("10.1.2.0/24"), 24), (testCIDR("10.1.2.3/32"), 32), (testCIDR("255.255.255.255/32"), 99),
        ])
        #expect(map.prefixCount == 6)
        let expected: [(String, UInt32)] = [
            ("0.0.0.0", 1), ("9.255.255.255", 1), ("10.0.0.0", 8), ("10.0.255.255", 8), ("10.1.0.0", 16),
            ("10.1.1.255", 16), ("10.1.2.0", 24), ("10.1.2.2", 24), ("10.1.2.3", 32), ("10.1.2.4", 24),
            ("10.1.2.255", 24), ("10.1.3.0", 16), ("10.1.255.255", 16), ("10.2.0.0", 8), ("10.255.255.255", 8),
            ("11.0.0.0", 1), ("255.255.255.254", 1), ("255.255.255.255", 99),
        ]
        for (text, asn) in expected {
            #expect(map.asn(for: testAddress(text)) == asn, "\(text)")
        }
        // /0 is IPv4's only: IPv6 stays uncovered.
        #expect(map.asn(for: testAddress("::")) == nil && map.asn(for: testAddress("2001:db8::1")) == nil)
    }

    @Test("the most specific prefix wins over IPv6, from /0 to /128, at both edges of each")
    func ipv6Nesting() {
        let map = ASNMap(prefixes: [
            (testCIDR("::/0"), 1), (testCIDR("2001:db8::/32"), 32), (testCIDR("2001:db8:0:1::/64"), 64),
            (testCIDR("2001:db8:0:1::1/128"), 128), (testCIDR("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), 7),
        ])
        let expected: [(String, UInt32)] = [
            ("::", 1), ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 1), ("2001:db8::", 32),
            ("2001:db8:0:0:ffff:ffff:ffff:ffff", 32), ("2001:db8:0:1::", 64), ("2001:db8:0:1::1", 128),
            ("2001:db8:0:1::2", 64), ("2001:db8:0:1:ffff:ffff:ffff:ffff", 64), ("2001:db8:0:2::", 32),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 32), ("2001:db9::", 1),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 1), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 7),
        ]
        for (text, asn) in expected {
            #expect(map.asn(for: testAddress(text)) == asn, "\(text)")
        }
        #expect(map.asn(for: testAddress("10.0.0.1")) == nil)
    }

    @Test("an empty map covers nothing")
    func empty() {
        let map = ASNMap(prefixes: [])
        #expect(map.prefixCount == 0)
        #expect(map.asn(for: testAddress("0.0.0.0")) == nil && map.asn(for: testAddress("255.255.255.255")) == nil)
        #expect(map.asn(for: testAddress("::")) == nil)
    }

    @Test("random prefixes and addresses agree with a brute-force search over every prefix, with either IPv6 bucketing",
          arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64], [false, true])
    func againstBruteForce(seed: UInt64, routedBucketing: Bool) {
        var random = MappingRandom(seed: seed)
        // Few distinct bases, so prefixes nest, share starts and end together often; half the
        // IPv6 ones in 2000::/3, whose bits the large-table bucketing indexes, and one at each
        // of its edges.
        let v4Bases = (0..<12).map { _ in UInt32(truncatingIfNeeded: random.next()) }
        var v6Bases: [(UInt64, UInt64)] = (0..<10).map { i in
            (i % 2 == 0 ? random.next() : 0x2000_0000_0000_0000 | random.next() >> 3, random.next())
        }
        v6Bases += [(0x1FFF_FFFF_FFFF_FFFF, UInt64.max), (0x4000_0000_0000_0000, 0)]
        var prefixes: [(CIDR, UInt32)] = []
        for _ in 0..<300 {
            let asn = UInt32(random.next() % 70_000)
            if random.next() % 2 == 0 {
                let length = Int(random.next() % 33)
                let base = v4Bases[Int(random.next() % 12)] ^ UInt32(truncatingIfNeeded: random.next() % 4096)
                let mask: UInt32 = length == 0 ? 0 : ~0 << UInt32(32 - length)
                prefixes.append((testCIDR("\(IPAddress(ipv4: base & mask))/\(length)"), asn))
            } else {
                let length = Int(random.next() % 129)
                let (high, low) = v6Bases[Int(random.next() % 12)]
                let key = (UInt128(high) << 64 | UInt128(low)) ^ UInt128(random.next() % 4096) ^ (UInt128(random.next() % 16) << 100)
                let masked = length == 0 ? 0 : key & ~(UInt128.max >> length)
                let network = IPAddress(ipv6High: UInt64(truncatingIfNeeded: masked >> 64), low: UInt64(truncatingIfNeeded: masked))
                prefixes.append((testCIDR("\(network)/\(length)"), asn))
            }
        }
        let map = ASNMap(table: PrefixTable(prefixes, v6Bucketing: routedBucketing ? .v6 : .v4))
        /// The last listed of the longest prefixes containing `address`.
        func reference(_ address: IPAddress) -> UInt32? {
            var best: (length: Int, asn: UInt32)?
            for (prefix, asn) in prefixes where prefix.contains(address) {
                if best == nil || prefix.prefixLength >= best!.length { best = (prefix.prefixLength, asn) }
            }
            return best?.asn
        }
        // Every prefix's first and last address and their neighbours, then random ones nearby.
        var probes: [IPAddress] = []
        for (prefix, _) in prefixes {
            let n = prefix.network
            if let v4 = n.ipv4Value {
                let last = v4 | (prefix.prefixLength == 0 ? ~0 : ~(~UInt32(0) << UInt32(32 - prefix.prefixLength)))
                probes += [v4, v4 &- 1, last, last &+ 1].map { IPAddress(ipv4: $0) }
            } else {
                let key = UInt128(n.high) << 64 | UInt128(n.low)
                let last = key | (UInt128.max >> prefix.prefixLength)
                probes += [key, key &- 1, last, last &+ 1].map {
                    IPAddress(ipv6High: UInt64(truncatingIfNeeded: $0 >> 64), low: UInt64(truncatingIfNeeded: $0))
                }
            }
        }
        for _ in 0..<3000 {
            if random.next() % 2 == 0 {
                probes.append(IPAddress(ipv4: v4Bases[Int(random.next() % 12)] ^ UInt32(truncatingIfNeeded: random.next() % 65_536)))
            } else {
                let (high, low) = v6Bases[Int(random.next() % 12)]
                probes.append(IPAddress(ipv6High: high ^ (random.next() % 16), low: low ^ random.next()))
            }
        }
        var mismatches = 0
        for probe in probes where map.asn(for: probe) != reference(probe) {
            mismatches += 1
            if mismatches <= 5 {
                Issue.record("\(probe): map says \(String(describing: map.asn(for: probe))), brute force \(String(describing: reference(probe)))")
            }
        }
        #expect(mismatches == 0)
        #expect(map.prefixCount == Set(prefixes.map(\.0)).count)
    }
}

/// A small seeded generator (Steele, Lea, Flood 2014), so a failing seed can be rerun.
struct MappingRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
