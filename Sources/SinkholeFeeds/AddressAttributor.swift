import SinkholeCore

/// Who a source address belongs to, for a feed row.
public struct Attribution: Sendable, Equatable {
    /// The origin AS of the most specific routed prefix; 0 when no prefix covers the address
    /// (AS 0 means "not routed", RFC 7607), which is also what the Shadowserver rows carry.
    public var asn: UInt32
    /// The ISP whose feed the address goes to; nil when none claims it or it is ignored.
    public var isp: String?
    /// On the ignore list (researchers' and crawlers' networks): in no feed at all.
    public var ignored: Bool

    public init(asn: UInt32, isp: String?, ignored: Bool) {
        self.asn = asn
        self.isp = isp
        self.ignored = ignored
    }
}

/// Address → (ASN, ISP), the one place feeds decide which ISP sees a check-in.
///
/// Precedence, most binding first:
/// 1. `ignore` — a researcher scanning the sinkhole is nobody's infected customer, whatever
///    ISP's range or AS the scanner sits in;
/// 2. the most specific ISP CIDR covering the address — an ISP lists CIDRs precisely for
///    customers its ASNs do not describe (space it leases out, or announces through another AS);
/// 3. the ISP listing the address's origin AS.
/// The directory refuses the same CIDR or ASN in two ISPs, so no rule ever depends on order.
public struct AddressAttributor: Sendable {
    public let asnMap: ASNMap?
    public let directory: ISPDirectory
    public let ignore: [CIDR]
    /// ISP CIDRs by longest-prefix match; the value is the ISP's index in `directory.isps`.
    private let ispByCIDR: PrefixTable
    private let ispByASN: [UInt32: Int]
    private let ignored: PrefixTable

    public init(asnMap: ASNMap?, directory: ISPDirectory, ignore: [CIDR]) {
        self.asnMap = asnMap
        self.directory = directory
        self.ignore = ignore
        var cidrs: [(CIDR, UInt32)] = []
        var asns: [UInt32: Int] = [:]
        for (index, isp) in directory.isps.enumerated() {
            cidrs += isp.cidrs.map { ($0, UInt32(index)) }
            for asn in isp.asns { asns[asn] = index }
        }
        ispByCIDR = PrefixTable(cidrs)
        ispByASN = asns
        ignored = PrefixTable(ignore.map { ($0, 1) })
    }

    public func attribute(_ address: IPAddress) -> Attribution {
        let asn = asnMap?.asn(for: address) ?? 0
        if ignored.value(for: address) != nil {
            return Attribution(asn: asn, isp: nil, ignored: true)
        }
        let index = ispByCIDR.value(for: address).map(Int.init) ?? (asn == 0 ? nil : ispByASN[asn])
        return Attribution(asn: asn, isp: index.map { directory.isps[$0].name }, ignored: false)
    }

    /// What was loaded, for `check-config` and the log at start and reload.
    public var summary: String {
        let counts = asnMap?.prefixCounts ?? (v4: 0, v6: 0)
        let map = asnMap == nil ? "no ASN map" : "\(counts.v4) IPv4 and \(counts.v6) IPv6 prefixes"
        return "\(map), \(directory.isps.count) ISP\(directory.isps.count == 1 ? "" : "s"), \(ignore.count) ignored network\(ignore.count == 1 ? "" : "s")"
    }
}
