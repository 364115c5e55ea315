import SinkholeCore
import Testing

@testable import SinkholeFeeds

@Suite("Address attribution: which ISP sees an address")
struct AddressAttributorTests {
    static func isp(_ name: String, asns: [UInt32] = [], cidrs: [String] = []) -> ISP {
        ISP(name: name, asns: asns, cidrs: cidrs.map(testCIDR), abuse: "abuse@\(name).test", tokenSHA256: tokenDigest(name))
    }

    static let map = ASNMap(prefixes: [
        (testCIDR("203.0.0.0/8"), 64500), (testCIDR("198.51.100.0/24"), 64510), (testCIDR("100.0.0.0/8"), 64999),
        (testCIDR("2001:db8::/32"), 64500), (testCIDR("2001:db8:beef::/48"), 64510),
    ])

    static func attributor(ignore: [String] = []) throws -> AddressAttributor {
        let directory = try ISPDirectory(isps: [
            isp("alpha", asns: [64500], cidrs: ["203.0.113.128/25", "2001:db8:beef:1::/64"]),
            isp("beta", asns: [64510], cidrs: ["203.0.113.0/24", "2001:db8:beef::/48"]),
        ])
        return AddressAttributor(asnMap: map, directory: directory, ignore: ignore.map(testCIDR))
    }

    func expectAttribution(_ attributor: AddressAttributor, _ text: String, _ asn: UInt32, _ isp: String?, ignored: Bool = false,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(attributor.attribute(testAddress(text)) == Attribution(asn: asn, isp: isp, ignored: ignored), "\(text)",
                sourceLocation: sourceLocation)
    }

    @Test("an address belongs to the ISP of its origin AS")
    func byASN() throws {
        let attributor = try Self.attributor()
        expectAttribution(attributor, "203.0.1.1", 64500, "alpha")
        expectAttribution(attributor, "198.51.100.7", 64510, "beta")
        expectAttribution(attributor, "2001:db8:1::1", 64500, "alpha")
        // Routed, but its AS is no ISP's; and not routed at all (AS 0).
        expectAttribution(attributor, "100.1.2.3", 64999, nil)
        expectAttribution(attributor, "172.16.0.1", 0, nil)
        expectAttribution(attributor, "2001:db9::1", 0, nil)
    }

    @Test("an ISP's CIDR beats another ISP's AS, and the more specific CIDR wins")
    func cidrPrecedence() throws {
        let attributor = try Self.attributor()
        // 203.0.113.0/24 is announced by alpha's AS but listed by beta.
        expectAttribution(attributor, "203.0.113.5", 64500, "beta")
        expectAttribution(attributor, "203.0.113.127", 64500, "beta")
        // …whose upper half alpha lists more specifically.
        expectAttribution(attributor, "203.0.113.128", 64500, "alpha")
        expectAttribution(attributor, "203.0.113.255", 64500, "alpha")
        expectAttribution(attributor, "203.0.114.0", 64500, "alpha")
        expectAttribution(attributor, "2001:db8:beef::1", 64510, "beta")
        expectAttribution(attributor, "2001:db8:beef:1::9", 64510, "alpha")
        expectAttribution(attributor, "2001:db8:beef:2::9", 64510, "beta")
    }

    @Test("the ignore list wins over every CIDR and AS, and the ASN is still reported")
    func ignoreWins() throws {
        let attributor = try Self.attributor(ignore: ["203.0.113.192/26", "198.51.100.0/24", "2001:db8:beef:1::/64", "172.16.0.0/12"])
        expectAttribution(attributor, "203.0.113.200", 64500, nil, ignored: true)
        expectAttribution(attributor, "203.0.113.191", 64500, "alpha")
        expectAttribution(attributor, "198.51.100.7", 64510, nil, ignored: true)
        expectAttribution(attributor, "2001:db8:beef:1::9", 64510, nil, ignored: true)
        expectAttribution(attributor, "172.16.0.1", 0, nil, ignored: true)
        expectAttribution(attributor, "203.0.113.5", 64500, "beta")
    }

    @Test("without an ASN map, ISPs are matched by their CIDRs only")
    func noMap() throws {
        let directory = try ISPDirectory(isps: [Self.isp("alpha", asns: [64500], cidrs: ["203.0.113.0/24"])])
        let attributor = AddressAttributor(asnMap: nil, directory: directory, ignore: [])
        expectAttribution(attributor, "203.0.113.1", 0, "alpha")
        expectAttribution(attributor, "203.0.1.1", 0, nil)
        #expect(attributor.summary == "no ASN map, 1 ISP, 0 ignored networks")
        #expect(try Self.attributor(ignore: ["10.0.0.0/8"]).summary == "3 IPv4 and 2 IPv6 prefixes, 2 ISPs, 1 ignored network")
    }

    @Test("random ISPs, ignore lists and addresses agree with the precedence rules applied by brute force", arguments: [11, 12, 13, 14] as [UInt64])
    func againstBruteForce(seed: UInt64) throws {
        var random = MappingRandom(seed: seed)
        // Prefixes of a few /16s, so ISP ranges, routed prefixes and ignored ranges overlap.
        func prefix() -> CIDR {
            if random.next() % 4 == 0 {
                let length = 32 + Int(random.next() % 97)
                let key = (UInt128(0x2001_0db8) << 96 | UInt128(random.next() % 4) << 80 | UInt128(random.next()))
                    & ~(UInt128.max >> length)
                return testCIDR("\(IPAddress(ipv6High: UInt64(truncatingIfNeeded: key >> 64), low: UInt64(truncatingIfNeeded: key)))/\(length)")
            }
            let length = 14 + Int(random.next() % 19)
            let value = (0xCB00_0000 | UInt32(random.next() % 4) << 16 | UInt32(truncatingIfNeeded: random.next() % 65_536))
                & ~(UInt32.max >> UInt32(length))
            return testCIDR("\(IPAddress(ipv4: value))/\(length)")
        }
        var routed: [(CIDR, UInt32)] = []
        for _ in 0..<60 { routed.append((prefix(), 64_500 + UInt32(random.next() % 12))) }
        var isps: [ISP] = []
        var usedASNs = Set<UInt32>(), usedCIDRs = Set<CIDR>()
        for index in 0..<4 {
            let asns = (0..<2).map { _ in 64_500 + UInt32(random.next() % 12) }.filter { usedASNs.insert($0).inserted }
            let cidrs = (0..<5).map { _ in prefix() }.filter { usedCIDRs.insert($0).inserted }
            isps.append(ISP(name: "isp\(index)", asns: asns, cidrs: cidrs, abuse: "x", tokenSHA256: tokenDigest("\(index)")))
        }
        let ignore = (0..<4).map { _ in prefix() }
        let map = ASNMap(prefixes: routed)
        let attributor = AddressAttributor(asnMap: map, directory: try ISPDirectory(isps: isps), ignore: ignore)
        func longest<T>(_ candidates: [(CIDR, T)], _ address: IPAddress) -> T? {
            candidates.filter { $0.0.contains(address) }.max { $0.0.prefixLength < $1.0.prefixLength }?.1
        }
        func reference(_ address: IPAddress) -> Attribution {
            let asn = longest(routed.reversed(), address) ?? 0  // the last listing wins a tie
            if ignore.contains(where: { $0.contains(address) }) { return Attribution(asn: asn, isp: nil, ignored: true) }
            let byCIDR = longest(isps.flatMap { isp in isp.cidrs.map { ($0, isp.name) } }, address)
            return Attribution(asn: asn, isp: byCIDR ?? isps.first { $0.asns.contains(asn) }?.name, ignored: false)
        }
        var mismatches = 0
        for _ in 0..<4000 {
            let candidate = prefix()
            // An address inside a random prefix: its first, last or a random one.
            let address: IPAddress
            if let v4 = candidate.network.ipv4Value {
                let span = candidate.prefixLength == 32 ? 0 : UInt32.max >> UInt32(candidate.prefixLength)
                address = IPAddress(ipv4: v4 | [0, span, UInt32(truncatingIfNeeded: random.next()) & span][Int(random.next() % 3)])
            } else {
                let span = UInt128.max >> candidate.prefixLength
                let key = (UInt128(candidate.network.high) << 64 | UInt128(candidate.network.low))
                    | [0, span, (UInt128(random.next()) << 64 | UInt128(random.next())) & span][Int(random.next() % 3)]
                address = IPAddress(ipv6High: UInt64(truncatingIfNeeded: key >> 64), low: UInt64(truncatingIfNeeded: key))
            }
            if attributor.attribute(address) != reference(address) {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(address): \(attributor.attribute(address)) against \(reference(address))") }
            }
        }
        #expect(mismatches == 0)
    }
}
