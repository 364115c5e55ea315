/// Mnemonics for DNS query types, as the exports write them (`query_type`).
///
/// The types bots and resolvers actually ask for; any other is `TYPE` and its number, the
/// generic form of RFC 3597 §5, so nothing is lost and a reader's parser accepts it.
public enum DNSTypeNames {
    public static func name(_ type: UInt16) -> String {
        names[type] ?? "TYPE\(type)"
    }

    static let names: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
        28: "AAAA", 33: "SRV", 35: "NAPTR", 39: "DNAME", 43: "DS", 46: "RRSIG", 47: "NSEC",
        48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF", 251: "IXFR",
        252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
    ]
}
