import SinkholeCore

/// Source address → origin AS, from CAIDA's RouteViews prefix2as files, by longest-prefix match.
///
/// A file line is `prefix<TAB>length<TAB>asn`. A prefix announced by several origins
/// (`3356_1299`) or by an AS set (`64500,64501`) maps to the first AS listed: a feed row has
/// one `src_asn`, and the first is what CAIDA lists as the primary origin. IPv4 and IPv6
/// prefixes may come from separate files (CAIDA publishes them apart) and are loaded together.
///
/// Immutable once built, so one map is shared by every exporter and API request without locks;
/// SIGHUP builds a new one.
public struct ASNMap: Sendable {
    let table: PrefixTable

    init(table: PrefixTable) {
        self.table = table
    }

    /// A map of the given prefixes; a prefix listed twice takes its last AS. For tests and for
    /// callers that already hold parsed prefixes. AS 4294967295 is reserved (RFC 7300) and
    /// refused, as `load` refuses it.
    public init(prefixes: [(CIDR, UInt32)]) {
        table = PrefixTable(prefixes)
    }

    /// The origin AS of the most specific prefix covering `address`; nil when none does
    /// (unrouted or private space, or a family the files did not cover).
    public func asn(for address: IPAddress) -> UInt32? {
        table.value(for: address)
    }

    /// Distinct prefixes held, IPv4 and IPv6.
    public var prefixCount: Int { table.prefixCount }

    /// How many of `prefixCount` are IPv4 and IPv6, for `check-config`'s summary.
    public var prefixCounts: (v4: Int, v6: Int) { (table.v4.prefixCount, table.v6.prefixCount) }
}
