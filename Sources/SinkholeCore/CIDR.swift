/// A network prefix such as `203.0.113.0/24` or `2001:db8::/32`.
///
/// Parsing rejects host bits set below the prefix (`203.0.113.7/24`): in a feed or ignore list
/// that is almost always a typo, and silently masking it would widen or narrow what an ISP sees.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maxLength = address.family == .v4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCII),
                  let parsed = Int(parts[1]), parsed >= 0, parsed <= maxLength else { return nil }
            length = parsed
        }
        guard Self.masked(address, length) == address else { return nil }
        network = address
        prefixLength = length
    }

    /// True when `address` lies inside this prefix (never across address families).
    public func contains(_ address: IPAddress) -> Bool {
        address.family == network.family && Self.masked(address, prefixLength) == network
    }

    public var description: String { "\(network)/\(prefixLength)" }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address.family {
        case .v4:
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return IPAddress(ipv4: UInt32(truncatingIfNeeded: address.low) & mask)
        case .v6:
            let highMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << UInt64(64 - length))
            let lowMask: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << UInt64(128 - length))
            return IPAddress(ipv6High: address.high & highMask, low: address.low & lowMask)
        }
    }
}
