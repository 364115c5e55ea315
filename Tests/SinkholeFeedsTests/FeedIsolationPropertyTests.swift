import Foundation
import SinkholeCore
@testable import SinkholeFeeds
import SinkholeStore
import Testing

/// The promise ISPs are given: an ISP never receives a row of another ISP's customers, nor of an
/// ignored network, through the daily export or the API; and it receives every row that is its
/// own. Checked over random IPv4 and IPv6 directories, prefix2as maps, ignore lists and sources,
/// against a brute-force reading of the attribution rules written here, apart from the code.
@Suite("Feed isolation: random directories, every row to its own ISP only")
struct FeedIsolationPropertyTests {
    struct World {
        var isps: [ISP] = []
        var map: [(CIDR, UInt32)] = []
        var ignore: [CIDR] = []
        var sources: [IPAddress] = []
    }

    /// Addresses drawn from a small space (10.0.0.0/16 and 2001:db8::/112 with a few bits set),
    /// so random prefixes overlap, nest and cover each other often.
    static func address(_ v6: Bool, _ r: inout MappingRandom) -> IPAddress {
        let bits = UInt64.random(in: 0..<4096, using: &r)
        return v6 ? IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: bits) : IPAddress(ipv4: 0x0A00_0000 | UInt32(bits))
    }

    static func prefix(_ r: inout MappingRandom) -> CIDR {
        let v6 = Bool.random(using: &r)
        let length = v6 ? Int.random(in: 116...128, using: &r) : Int.random(in: 20...32, using: &r)
        let a = address(v6, &r)
        // Host bits cleared: CIDR refuses a prefix with any set.
        let hostBits = (v6 ? 128 : 32) - length
        let network = v6 ? IPAddress(ipv6High: a.high, low: hostBits == 0 ? a.low : a.low & ~((1 << UInt64(hostBits)) - 1))
                         : IPAddress(ipv4: a.ipv4Value! & ~UInt32((1 << UInt64(hostBits)) - 1))
        return CIDR("\(network)/\(length)")!
    }

    static func world(seed: UInt64) -> World {
        var r = MappingRandom(seed: seed)
        var world = World()
        var taken = Set<String>()
        func fresh(_ r: inout MappingRandom) -> CIDR {
            while true {
                let c = prefix(&r)
                if taken.insert(c.description).inserted { return c }
            }
        }
        let ispCount = Int.random(in: 2...5, using: &r)
        for i in 0..<ispCount {
            let cidrs = (0..<Int.random(in: 0...3, using: &r)).map { _ in fresh(&r) }
            world.isps.append(ISP(name: "isp\(i)", asns: [UInt32(64_500 + i)], cidrs: cidrs, abuse: "abuse@isp.test",
                                  tokenSHA256: [UInt8](repeating: UInt8(i + 1), count: 32),
                                  formats: [.shadowserver, .jsonl]))
        }
        // A prefix2as file has one line per prefix (multiple origins on that line).
        var mapped = Set<String>()
        for _ in 0..<Int.random(in: 3...10, using: &r) {
            let p = prefix(&r)
            guard mapped.insert(p.description).inserted else { continue }
            world.map.append((p, UInt32(64_500 + Int.random(in: 0...(ispCount + 1), using: &r))))
        }
        world.ignore = (0..<Int.random(in: 0...2, using: &r)).map { _ in fresh(&r) }
        world.sources = (0..<60).map { _ in address(Bool.random(using: &r), &r) }
        return world
    }

    /// The rules as the issue states them, by brute force: ignore wins; then the most specific
    /// ISP CIDR; else the ISP listing the address's ASN (longest matching prefix2as prefix).
    static func owner(_ address: IPAddress, in world: World) -> String? {
        if world.ignore.contains(where: { $0.contains(address) }) { return nil }
        var best: (length: Int, isp: String)?
        for isp in world.isps {
            for cidr in isp.cidrs where cidr.contains(address) && cidr.prefixLength > (best?.length ?? -1) {
                best = (cidr.prefixLength, isp.name)
            }
        }
        if let best { return best.isp }
        var asn: (length: Int, asn: UInt32)?
        for (cidr, number) in world.map where cidr.contains(address) && cidr.prefixLength > (asn?.length ?? -1) {
            asn = (cidr.prefixLength, number)
        }
        guard let asn else { return nil }
        return world.isps.first { $0.asns.contains(asn.asn) }?.name
    }

    static let day = UTCTime(seconds: 1_710_028_800)

    /// Sources in the CSV/JSON output: the `src_ip` of every data row.
    static func sources(csv: String) -> [String] {
        let lines = csv.split(separator: "\r\n")
        guard let header = lines.first.map(ExportTests.fields), let column = header.firstIndex(of: "src_ip") else { return [] }
        return lines.dropFirst().map { ExportTests.fields($0)[column] }
    }

    static func sources(jsonl: String) -> [String] {
        jsonl.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["src_ip"] as? String
        }
    }

    @Test("export and API give each ISP exactly its own rows", arguments: [UInt64(1), 2, 3, 5, 8, 13, 21, 34, 55, 89])
    func isolation(seed: UInt64) throws {
        let world = Self.world(seed: seed)
        let scratch = try ExportTests.Scratch()
        let store = try SQLiteStore(path: scratch.path + "/store.db")
        let run = try store.beginRun(node: "n", startedAt: Self.day)
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        for (i, source) in world.sources.enumerated() {
            let at = UTCTime(seconds: Self.day.seconds + Int64(i))
            dedup.add(ExportTests.session(at, .http, from: source.description, port: UInt16(10_000 + i), host: "h.example",
                                          path: Array("/\(i)".utf8)))
            dedup.add(ExportTests.session(at, .tcp, from: source.description, port: UInt16(20_000 + i), to: 4444))
            dedup.add(ExportTests.dns(at, from: source.description, port: UInt16(30_000 + i), qname: "q\(i).example", family: "conficker"))
        }
        var batch = dedup.takeBatch(now: UTCTime(seconds: Self.day.seconds + 3600)).batch
        batch.counters = RunCounters(offered: 180, stored: 180, dropped: 0)
        try store.write(batch, node: "n", run: run)
        store.close()

        let attributor = AddressAttributor(asnMap: ASNMap(prefixes: world.map), directory: try ISPDirectory(isps: world.isps),
                                           ignore: world.ignore)
        let reader = try SQLiteDayReader(path: scratch.path + "/store.db")
        try DailyExport(.init(day: Self.day, node: "n", outputDirectory: scratch.path + "/out", isps: world.isps))
            .run(reader: reader, attributor: attributor)

        for isp in world.isps {
            // Each source sent an HTTP request, a raw TCP connection and a DNS query, and made
            // one infections row (the HTTP and TCP sessions share a family and a day).
            let own = world.sources.filter { Self.owner($0, in: world) == isp.name }.map(\.description).sorted()
            let files = (try? scratch.files("out/\(isp.name)")) ?? [:]
            var exported: [String] = []
            for (name, data) in files where name.hasSuffix(".csv") {
                exported += Self.sources(csv: String(decoding: data, as: UTF8.self))
            }
            #expect(exported.sorted() == (own + own + own).sorted(), "seed \(seed), \(isp.name): CSV rows")
            let jsonl = files["2024-03-10-checkins-n.jsonl"].map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(Self.sources(jsonl: jsonl).sorted() == (own + own + own).sorted(), "seed \(seed), \(isp.name): JSON Lines")
            let infections = files["2024-03-10-infections-n.jsonl"].map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(Self.sources(jsonl: infections).sorted() == own, "seed \(seed), \(isp.name): infections")

            for format in FeedRequest.Format.allCases {
                var body = [UInt8]()
                var query = FeedQuery(.checkIns(day: Self.day, format: format), isp: isp.name)
                query.chunkSize = 256
                try query.run(reader: reader, attributor: attributor) { body += $0 }
                let text = String(decoding: body, as: UTF8.self)
                let served = format == .csv ? Self.sources(csv: text) : Self.sources(jsonl: text)
                #expect(served.sorted() == (own + own + own).sorted(), "seed \(seed), \(isp.name): API \(format)")
                body = []
                try FeedQuery(.infections(since: Self.day, until: Self.day, format: format), isp: isp.name)
                    .run(reader: reader, attributor: attributor) { body += $0 }
                let infectionText = String(decoding: body, as: UTF8.self)
                let servedInfections = format == .csv ? Self.sources(csv: infectionText) : Self.sources(jsonl: infectionText)
                #expect(servedInfections.sorted() == own, "seed \(seed), \(isp.name): API infections \(format)")
            }
        }
    }
}
