import Foundation
import SinkholeCore
import SinkholeFeeds

/// Realistic prefix2as files for the ASN map benchmark, written to a scratch directory.
///
/// Shaped after CAIDA's routeviews files of 2025–26 (rv2 ~1.0M IPv4 prefixes, rv6 ~220k IPv6):
/// IPv4 lengths mostly /24 with /22–/16 aggregates, random over unicast space so that
/// more-specifics often sit inside an announced aggregate; IPv6 mostly /48, /32–/44 under the
/// RIR blocks (2001::/16, 2400::/12, 2600::/12, 2a00::/12, 2c00::/12). About 1% of prefixes
/// have several origins (`a_b`) and 0.2% an AS set (`a,b`), as in the real files.
struct ASNMapFixture {
    let directory: String
    let v4Path: String
    let v6Path: String
    let v4: [(start: UInt32, length: Int, asn: UInt32)]
    let v6: [(start: UInt128, length: Int, asn: UInt32)]

    init(v4Count: Int, v6Count: Int, seed: UInt64 = 0x5EED) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-bench-asnmap-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var random = BenchRandom(state: seed)
        func pick<T>(_ weighted: [(T, Int)]) -> T {
            var roll = Int(random.next() % UInt64(weighted.reduce(0) { $0 + $1.1 }))
            for (value, weight) in weighted {
                if roll < weight { return value }
                roll -= weight
            }
            return weighted[0].0
        }
        func origin(_ asn: UInt32) -> String {
            switch random.next() % 1000 {
            case 0..<10: "\(asn)_\(asn &+ 17)"
            case 10..<12: "\(asn),\(asn &+ 3)"
            default: "\(asn)"
            }
        }
        let v4Lengths = [(24, 580), (23, 100), (22, 130), (21, 50), (20, 50), (19, 30), (18, 20), (17, 10), (16, 30)]
        var seen4 = Set<UInt64>()
        var v4: [(start: UInt32, length: Int, asn: UInt32)] = []
        var text = "# synthetic routeviews-rv2 prefix2as for sinkhole-bench\n"
        text.reserveCapacity(v4Count * 24)
        while v4.count < v4Count {
            let length = pick(v4Lengths)
            // 1.0.0.0–223.255.255.255: unicast space.
            let address = UInt32(1 << 24) + UInt32(truncatingIfNeeded: random.next() % (223 << 24))
            let start = address & ~(UInt32.max >> UInt32(length))
            guard seen4.insert(UInt64(start) << 8 | UInt64(length)).inserted else { continue }
            let asn = 1 + UInt32(random.next() % 400_000)
            v4.append((start, length, asn))
            text += "\(IPAddress(ipv4: start))\t\(length)\t\(origin(asn))\n"
        }
        v4Path = directory + "/routeviews-rv2.pfx2as"
        try text.write(toFile: v4Path, atomically: false, encoding: .utf8)
        let blocks: [(UInt128, Int)] = [(0x2001 << 112, 16), (0x240 << 116, 12), (0x260 << 116, 12), (0x2a0 << 116, 12), (0x2c0 << 116, 12)]
        let v6Lengths = [(48, 450), (32, 200), (44, 100), (40, 100), (36, 50), (29, 50), (64, 50)]
        var seen6 = Set<UInt128>()
        var v6: [(start: UInt128, length: Int, asn: UInt32)] = []
        text = "# synthetic routeviews-rv6 prefix2as for sinkhole-bench\n"
        while v6.count < v6Count {
            let (block, blockLength) = blocks[Int(random.next() % UInt64(blocks.count))]
            let length = pick(v6Lengths)
            let bits = (UInt128(random.next()) << 64 | UInt128(random.next())) & (UInt128.max >> blockLength)
            let start = (block | bits) & ~(UInt128.max >> length)
            guard seen6.insert(start ^ UInt128(length)).inserted else { continue }
            let asn = 1 + UInt32(random.next() % 400_000)
            v6.append((start, length, asn))
            text += "\(IPAddress(ipv6High: UInt64(truncatingIfNeeded: start >> 64), low: UInt64(truncatingIfNeeded: start)))\t\(length)\t\(origin(asn))\n"
        }
        v6Path = directory + "/routeviews-rv6.pfx2as"
        try text.write(toFile: v6Path, atomically: false, encoding: .utf8)
        self.v4 = v4
        self.v6 = v6
    }

    /// `count` addresses as a sinkhole sees them: 90% inside a routed prefix (bots are on
    /// customer networks), 10% anywhere (scanners, spoofed and unrouted sources).
    func addresses(_ count: Int, v6 useV6: Bool, seed: UInt64) -> [IPAddress] {
        var random = BenchRandom(state: seed)
        return (0..<count).map { _ in
            let anywhere = random.next() % 10 == 0
            if useV6 {
                let r = UInt128(random.next()) << 64 | UInt128(random.next())
                if anywhere { return IPAddress(ipv6High: UInt64(truncatingIfNeeded: r >> 64), low: UInt64(truncatingIfNeeded: r)) }
                let prefix = v6[Int(random.next() % UInt64(v6.count))]
                let key = prefix.start | (r & (UInt128.max >> prefix.length))
                return IPAddress(ipv6High: UInt64(truncatingIfNeeded: key >> 64), low: UInt64(truncatingIfNeeded: key))
            }
            let r = UInt32(truncatingIfNeeded: random.next())
            if anywhere { return IPAddress(ipv4: r) }
            let prefix = v4[Int(random.next() % UInt64(v4.count))]
            return IPAddress(ipv4: prefix.start | (r & (UInt32.max >> UInt32(prefix.length))))
        }
    }

    /// Gzips the IPv4 file as CAIDA ships it; returns the `.gz` path.
    func gzippedV4() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-kf", v4Path]
        try process.run()
        process.waitUntilExit()
        return v4Path + ".gz"
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// The anchor: the straightforward longest-prefix match, one hash table per prefix length,
/// probed from the longest length down (what a first implementation, and several IP-to-ASN
/// libraries, do), loaded the straightforward way (`String` lines split on tabs).
struct HashPerLengthASNMap {
    private var v4: [(length: Int, table: [UInt32: UInt32])] = []
    private var v6: [(length: Int, table: [UInt128: UInt32])] = []

    init(paths: [String]) throws {
        var byLength4 = [[UInt32: UInt32]](repeating: [:], count: 33)
        var byLength6 = [[UInt128: UInt32]](repeating: [:], count: 129)
        for path in paths {
            for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
                if line.hasPrefix("#") { continue }
                let fields = line.split(separator: "\t")
                guard fields.count == 3, let address = IPAddress(fields[0]), let length = Int(fields[1]),
                      let asn = UInt32(fields[2].prefix { $0 != "_" && $0 != "," }) else { continue }
                if let value = address.ipv4Value {
                    byLength4[length][value] = asn
                } else {
                    byLength6[length][UInt128(address.high) << 64 | UInt128(address.low)] = asn
                }
            }
        }
        v4 = byLength4.enumerated().reversed().filter { !$0.element.isEmpty }.map { ($0.offset, $0.element) }
        v6 = byLength6.enumerated().reversed().filter { !$0.element.isEmpty }.map { ($0.offset, $0.element) }
    }

    func asn(for address: IPAddress) -> UInt32? {
        if let value = address.ipv4Value {
            for (length, table) in v4 {
                if let asn = table[value & ~(UInt32.max >> UInt32(length))] { return asn }
            }
            return nil
        }
        let key = UInt128(address.high) << 64 | UInt128(address.low)
        for (length, table) in v6 {
            if let asn = table[key & ~(UInt128.max >> length)] { return asn }
        }
        return nil
    }
}

struct BenchRandom {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func benchSeconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    let (s, atto) = elapsed.components
    return Double(s) + Double(atto) / 1e18
}

/// Looks up every address `rounds` times; returns lookups per second and a checksum that
/// keeps the optimizer from dropping the work (and shows both structures agree).
func lookupRate(_ addresses: [IPAddress], rounds: Int, _ lookup: (IPAddress) -> UInt32?) -> (rate: Double, checksum: UInt64) {
    var checksum: UInt64 = 0
    let seconds = benchSeconds {
        for _ in 0..<rounds {
            for address in addresses { checksum &+= UInt64(lookup(address) ?? 0) }
        }
    }
    return (Double(addresses.count * rounds) / seconds, checksum)
}

/// The ASN map workload: load time of 1M IPv4 prefixes (plain and gzip) and of the IPv6 file,
/// then lookups per second over IPv4 and IPv6 sources, each beside the hash-per-length anchor.
/// Returns the verdict lines.
func runASNMapBenchmark(v4Count: Int, v6Count: Int, lookups: Int) throws -> [String] {
    log("asnmap: generating \(v4Count) IPv4 and \(v6Count) IPv6 prefixes")
    let fixture = try ASNMapFixture(v4Count: v4Count, v6Count: v6Count)
    defer { fixture.remove() }
    let gz = try fixture.gzippedV4()
    var verdicts: [String] = []
    print("| ASN map | prefixes | ASNMap seconds | hash per length (anchor) seconds | anchor ÷ ASNMap |")
    print("| --- | ---: | ---: | ---: | ---: |")
    var map = ASNMap(prefixes: [])
    var anchor: HashPerLengthASNMap?
    for (name, paths) in [("load IPv4 file", [fixture.v4Path]), ("load IPv4 file, gzip", [gz]),
                          ("load IPv6 file", [fixture.v6Path]), ("load both files", [fixture.v4Path, fixture.v6Path])] {
        log("asnmap: \(name)")
        let seconds = try benchSeconds { map = try ASNMap.load(paths: paths) }
        // The anchor reads plain text only; its gzip row times it on the plain file.
        let anchorPaths = paths.map { $0 == gz ? fixture.v4Path : $0 }
        let anchorSeconds = try benchSeconds { anchor = try HashPerLengthASNMap(paths: anchorPaths) }
        print("| \(name) | \(map.prefixCount) | \(String(format: "%.2f", seconds)) | \(String(format: "%.2f", anchorSeconds)) | \(ratio(anchorSeconds / seconds)) |")
        if name == "load IPv4 file" {
            verdicts.append("asnmap load, \(map.prefixCount) IPv4 prefixes: \(String(format: "%.2f", seconds)) s (target < 2 s for 1M: \(seconds < 2 ? "met" : "missed"))")
        }
    }
    print("")
    guard let anchor else { return verdicts }
    print("| ASN map lookups | addresses × rounds | ASNMap lookups/s | hash per length (anchor) lookups/s | ASNMap ÷ anchor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for v6 in [false, true] {
        let addresses = fixture.addresses(lookups, v6: v6, seed: v6 ? 6 : 4)
        let rounds = 5
        log("asnmap: \(v6 ? "IPv6" : "IPv4") lookups")
        let ours = lookupRate(addresses, rounds: rounds) { map.asn(for: $0) }
        let theirs = lookupRate(addresses, rounds: rounds) { anchor.asn(for: $0) }
        guard ours.checksum == theirs.checksum else {
            fatalError("asnmap: ASNMap and the anchor disagree (checksums \(ours.checksum) and \(theirs.checksum))")
        }
        let family = v6 ? "IPv6" : "IPv4"
        print("| \(family), 90% routed sources | \(addresses.count) × \(rounds) | \(rate(ours.rate)) | \(rate(theirs.rate)) | \(ratio(ours.rate / theirs.rate)) |")
        verdicts.append("asnmap lookups, \(family): \(rate(ours.rate))/s (target ≥ 5M: \(ours.rate >= 5e6 ? "met" : "missed")), \(ratio(ours.rate / theirs.rate)) the hash-per-length anchor")
    }
    print("")
    return verdicts
}
