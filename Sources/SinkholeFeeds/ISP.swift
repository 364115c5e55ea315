import SinkholeCore

/// The formats an ISP can ask for: Shadowserver-compatible CSV (what IntelMQ's Shadowserver
/// parser reads unchanged) and JSON Lines.
public enum FeedFormat: String, Sendable, CaseIterable {
    case shadowserver
    case jsonl
}

/// One ISP or CERT receiving feeds: who it is, which addresses are its customers', where
/// reports go, and how it authenticates to the feed API.
public struct ISP: Sendable, Equatable {
    /// Unique, and used as a directory name under the export directory, hence `[a-z0-9._-]`.
    public var name: String
    /// Origin ASes whose routed prefixes are its customers'.
    public var asns: [UInt32]
    /// Extra ranges (IPv4 and IPv6), e.g. customers behind another AS; a CIDR beats an ASN.
    public var cidrs: [CIDR]
    /// The abuse contact reports are for.
    public var abuse: String
    /// SHA-256 of the ISP's API token (32 bytes): the token itself is never stored.
    public var tokenSHA256: [UInt8]
    public var formats: Set<FeedFormat>

    public init(name: String, asns: [UInt32], cidrs: [CIDR], abuse: String, tokenSHA256: [UInt8],
                formats: Set<FeedFormat> = Set(FeedFormat.allCases)) {
        self.name = name
        self.asns = asns
        self.cidrs = cidrs
        self.abuse = abuse
        self.tokenSHA256 = tokenSHA256
        self.formats = formats
    }
}
