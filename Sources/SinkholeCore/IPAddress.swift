/// An IPv4 or IPv6 address as a fixed-size value, so it can sit inside a `CheckIn` slot
/// without allocating.
///
/// Stored as 128 bits; an IPv4 address keeps its 32 bits in the low word of `low` and is
/// never confused with the IPv4-mapped IPv6 address `::ffff:a.b.c.d` (different `family`).
public struct IPAddress: Hashable, Sendable, BitwiseCopyable, Comparable, CustomStringConvertible {
    public enum Family: UInt8, Sendable, BitwiseCopyable {
        case v4 = 4
        case v6 = 6
    }

    public let family: Family
    /// The high 64 bits of an IPv6 address (network byte order as an integer); 0 for IPv4.
    public let high: UInt64
    /// The low 64 bits of an IPv6 address, or the IPv4 address in the low 32 bits.
    public let low: UInt64

    /// The unspecified IPv4 address, used where a slot has no address yet.
    public static let zero = IPAddress(ipv4: 0)

    public init(ipv4 value: UInt32) {
        family = .v4
        high = 0
        low = UInt64(value)
    }

    public init(ipv6High high: UInt64, low: UInt64) {
        family = .v6
        self.high = high
        self.low = low
    }

    /// The IPv4 address as an integer in host order (`a.b.c.d` is `a << 24 | …`); nil for IPv6.
    public var ipv4Value: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: low)
            return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
        case .v6:
            var out = [UInt8]()
            out.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((high >> UInt64(shift)) & 0xff)) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((low >> UInt64(shift)) & 0xff)) }
            return out
        }
    }

    /// Builds an address from 4 or 16 bytes in network order; nil for any other length.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        switch bytes.count {
        case 4:
            var v: UInt32 = 0
            for b in bytes { v = v << 8 | UInt32(b) }
            self.init(ipv4: v)
        case 16:
            var hi: UInt64 = 0
            var lo: UInt64 = 0
            for (i, b) in bytes.enumerated() {
                if i < 8 { hi = hi << 8 | UInt64(b) } else { lo = lo << 8 | UInt64(b) }
            }
            self.init(ipv6High: hi, low: lo)
        default:
            return nil
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.family.rawValue, lhs.high, lhs.low) < (rhs.family.rawValue, rhs.high, rhs.low)
    }

    /// The text form: dotted quad for IPv4, RFC 5952 canonical text for IPv6.
    public var description: String {
        switch family {
        case .v4:
            // Written byte by byte: the writer renders two addresses per stored row, and string
            // interpolation of four integers cost more than the rest of the row.
            let v = UInt32(truncatingIfNeeded: low)
            return String(unsafeUninitializedCapacity: 15) { buffer in
                var i = 0
                for shift in [UInt32(24), 16, 8, 0] {
                    let octet = UInt8((v >> shift) & 0xff)
                    if octet >= 100 { buffer[i] = 0x30 + octet / 100; i += 1 }
                    if octet >= 10 { buffer[i] = 0x30 + (octet / 10) % 10; i += 1 }
                    buffer[i] = 0x30 + octet % 10
                    i += 1
                    if shift != 0 { buffer[i] = UInt8(ascii: "."); i += 1 }
                }
                return i
            }
        case .v6:
            return Self.formatIPv6(high: high, low: low)
        }
    }
}

// MARK: - Parsing

extension IPAddress {
    /// Parses a dotted-quad IPv4 address or an IPv6 address (RFC 4291 §2.2 text forms,
    /// including `::` and a trailing dotted quad). Brackets, zone ids, and leading zeros in an
    /// IPv4 octet (ambiguous: octal to some parsers) are rejected.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        if let v4 = Self.parseIPv4(utf8[...]) {
            self.init(ipv4: v4)
        } else if let (hi, lo) = Self.parseIPv6(utf8[...]) {
            self.init(ipv6High: hi, low: lo)
        } else {
            return nil
        }
    }

    static func parseIPv4(_ text: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        var leadingZero = false
        for c in text {
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                if digits == 1 && leadingZero { return nil }
                if digits == 0 && c == UInt8(ascii: "0") { leadingZero = true }
                current = current * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                if digits > 3 || current > 255 { return nil }
            } else if c == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | current
                octets += 1
                current = 0
                digits = 0
                leadingZero = false
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        return value << 8 | current
    }

    static func parseIPv6(_ text: ArraySlice<UInt8>) -> (UInt64, UInt64)? {
        guard text.count >= 2, text.count <= 45 else { return nil }
        var groups: [UInt16] = []
        groups.reserveCapacity(8)
        var gapIndex: Int? = nil
        var i = text.startIndex
        let end = text.endIndex
        if text[i] == UInt8(ascii: ":") {
            guard text[i + 1] == UInt8(ascii: ":") else { return nil }
            gapIndex = 0
            i += 2
            if i == end { return (0, 0) }
        }
        while i < end {
            // A trailing dotted quad fills the last two groups.
            var j = i
            var sawDot = false
            while j < end && text[j] != UInt8(ascii: ":") {
                if text[j] == UInt8(ascii: ".") { sawDot = true }
                j += 1
            }
            if sawDot {
                guard j == end, groups.count <= 6, let v4 = parseIPv4(text[i..<j]) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                i = j
                break
            }
            let length = j - i
            guard length >= 1, length <= 4 else { return nil }
            var group: UInt16 = 0
            for k in i..<j {
                guard let nibble = hexValue(text[k]) else { return nil }
                group = group << 4 | UInt16(nibble)
            }
            groups.append(group)
            guard groups.count <= 8 else { return nil }
            i = j
            if i == end { break }
            // At a colon: either a separator or the start of "::".
            i += 1
            if i == end { return nil }  // trailing single colon
            if text[i] == UInt8(ascii: ":") {
                guard gapIndex == nil else { return nil }
                gapIndex = groups.count
                i += 1
                if i == end { break }
            }
        }
        if let gap = gapIndex {
            guard groups.count <= 7 else { return nil }
            let fill = [UInt16](repeating: 0, count: 8 - groups.count)
            groups.insert(contentsOf: fill, at: gap)
        }
        guard groups.count == 8 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return (hi, lo)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// RFC 5952 §4: lowercase hex, no leading zeros, the longest run (first on a tie) of two or
    /// more zero groups as `::`; §5: IPv4-mapped addresses end in a dotted quad.
    static func formatIPv6(high: UInt64, low: UInt64) -> String {
        var groups = [UInt16](repeating: 0, count: 8)
        for k in 0..<4 { groups[k] = UInt16((high >> UInt64(48 - 16 * k)) & 0xffff) }
        for k in 0..<4 { groups[4 + k] = UInt16((low >> UInt64(48 - 16 * k)) & 0xffff) }
        if high == 0 && (low >> 32) == 0xffff {
            let v4 = IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
            return "::ffff:\(v4)"
        }
        var bestStart = -1
        var bestLength = 0
        var runStart = -1
        for k in 0...8 {
            if k < 8 && groups[k] == 0 {
                if runStart < 0 { runStart = k }
            } else if runStart >= 0 {
                let length = k - runStart
                if length > bestLength { bestStart = runStart; bestLength = length }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        var k = 0
        while k < 8 {
            if k == bestStart {
                out += "::"
                k += bestLength
                continue
            }
            if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
            out += String(groups[k], radix: 16)
            k += 1
        }
        return out
    }
}

extension IPAddress {
    /// 127.0.0.0/8 or ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3).
    public var isLoopback: Bool {
        switch family {
        case .v4: (UInt32(truncatingIfNeeded: low) >> 24) == 127
        case .v6: high == 0 && low == 1
        }
    }
}
