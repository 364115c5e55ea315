import SinkholeCore

/// Longest-prefix match over IPv4 and IPv6 prefixes, each carrying a 32-bit value: the engine
/// behind `ASNMap` (value = origin AS) and `AddressAttributor` (value = ISP, or "ignored").
///
/// Nested prefixes are flattened once, at build time, into sorted non-overlapping ranges: the
/// address space is cut at every point where the most specific covering prefix changes, and
/// each cut keeps the value that holds from there to the next cut. A lookup is then "the last
/// cut at or before the address", which needs no backtracking to a shorter prefix. A table of
/// offsets indexed by the address's top bits narrows the binary search to the cuts inside that
/// block (IPv4 /16: a handful; a whole-array search touched ~21 cache lines per lookup),
/// and nothing is allocated per lookup. A multibit trie would be as fast but several times the
/// memory for a million prefixes and far more code.
struct PrefixTable: Sendable {
    /// The value of a range no prefix covers. UInt32.max is reserved (RFC 7300: the last
    /// AS number is never an origin), so it cannot collide with a real value.
    static let uncovered = UInt32.max

    /// One prefix while building: `order` makes a prefix listed twice resolve to its last
    /// listing whatever the sort does.
    struct Prefix<Key: FixedWidthInteger & UnsignedInteger> {
        var start: Key
        var length: UInt8
        var value: UInt32
        var order: Int
    }

    /// The cuts of one address family, sorted, and their values; `starts[0]` is always 0.
    struct Ranges<Key: FixedWidthInteger & UnsignedInteger>: Sendable where Key: Sendable {
        let starts: [Key]
        let values: [UInt32]
        /// `buckets[b]` is the index of the first cut whose bucket is ≥ b.
        let buckets: [UInt32]
        let bucketing: Bucketing
        /// Distinct prefixes the ranges were built from.
        let prefixCount: Int

        init(_ input: [Prefix<Key>], bucketing: Bucketing) {
            // Containing prefixes sort before the prefixes inside them (same start, shorter
            // length first), so a sweep can keep the open prefixes on a stack.
            let sorted = input.sorted { ($0.start, $0.length, $0.order) < ($1.start, $1.length, $1.order) }
            var starts: [Key] = [0]
            var values: [UInt32] = [PrefixTable.uncovered]
            starts.reserveCapacity(sorted.count * 2 + 1)
            values.reserveCapacity(sorted.count * 2 + 1)
            /// The value from `position` on; a cut at the same position replaces the earlier
            /// one, and a cut that changes nothing is not kept.
            func cut(at position: Key, _ value: UInt32) {
                if starts.last == position {
                    starts.removeLast()
                    values.removeLast()
                }
                if values.last != value {
                    starts.append(position)
                    values.append(value)
                }
            }
            var open: [(end: Key, value: UInt32)] = []
            var count = 0
            var index = 0
            while index < sorted.count {
                // A prefix listed again: the last listing wins.
                var prefix = sorted[index]
                while index + 1 < sorted.count, sorted[index + 1].start == prefix.start,
                      sorted[index + 1].length == prefix.length {
                    index += 1
                    prefix = sorted[index]
                }
                index += 1
                count += 1
                // Prefixes nest or are disjoint, so every open prefix ending before this one
                // starts is closed, innermost first, handing the range back to its parent.
                while let top = open.last, top.end < prefix.start {
                    open.removeLast()
                    cut(at: top.end + 1, open.last?.value ?? PrefixTable.uncovered)
                }
                cut(at: prefix.start, prefix.value)
                let hostBits = Key(Key.bitWidth) - Key(prefix.length)
                let end = prefix.start | (hostBits == Key(Key.bitWidth) ? Key.max : (Key(1) << hostBits) &- 1)
                open.append((end, prefix.value))
            }
            while let top = open.popLast() {
                // A prefix reaching the top of the address space closes everything under it.
                guard top.end != Key.max else { break }
                cut(at: top.end + 1, open.last?.value ?? PrefixTable.uncovered)
            }
            var buckets = [UInt32](repeating: 0, count: bucketing.count + 1)
            for start in starts {
                buckets[bucketing.bucket(start) + 1] += 1
            }
            for b in 1..<buckets.count { buckets[b] += buckets[b - 1] }
            self.bucketing = bucketing
            self.starts = starts
            self.values = values
            self.buckets = buckets
            self.prefixCount = count
        }

        /// The value of the range holding `key`.
        @inline(__always)
        func value(at key: Key) -> UInt32 {
            let bucket = bucketing.bucket(key)
            var low = Int(buckets[bucket])
            var high = Int(buckets[bucket + 1])
            // Count the cuts of this bucket at or before `key`; the answer is the last of them,
            // or, when there is none, the last cut of an earlier bucket (index low - 1, which
            // exists: cut 0 is at address 0, in bucket 0).
            while low < high {
                let middle = (low + high) >> 1
                if starts[middle] <= key { low = middle + 1 } else { high = middle }
            }
            return values[low - 1]
        }
    }

    /// Which bucket a key falls in: `bits` bits of the key after the top `skip` bits, for keys
    /// whose top `skip` bits are `pattern`; keys below come first (bucket 0), keys above last.
    /// Monotonic in the key, so the cuts of one bucket are contiguous in `starts`.
    struct Bucketing: Sendable {
        let skip: Int
        let pattern: UInt64
        let bits: Int

        /// Buckets in all, the two outside the pattern included.
        var count: Int { skip == 0 ? 1 << bits : (1 << bits) + 2 }

        @inline(__always)
        func bucket<Key: FixedWidthInteger & UnsignedInteger>(_ key: Key) -> Int {
            guard skip > 0 else { return Int(truncatingIfNeeded: key >> (Key.bitWidth - bits)) }
            let top = UInt64(truncatingIfNeeded: key >> (Key.bitWidth - skip))
            if top < pattern { return 0 }
            if top > pattern { return (1 << bits) + 1 }
            return 1 + Int(truncatingIfNeeded: (key >> (Key.bitWidth - skip - bits)) & Key((1 << bits) - 1))
        }

        /// IPv4: the top 16 bits, 65,536 buckets of 256 KiB in all; a /16 holds a handful of cuts.
        static let v4 = Bucketing(skip: 0, pattern: 0, bits: 16)
        /// IPv6: routed space is 2000::/3 (RFC 4291 §2.4, IANA's global unicast), so the 20 bits
        /// after those 3 (4 MiB of offsets). Top 16 bits left 2001::/16, a fifth of the routed
        /// prefixes, in one bucket: 3.7M lookups/s, below the 5M the issue asks.
        static let v6 = Bucketing(skip: 3, pattern: 0b001, bits: 20)
    }

    let v4: Ranges<UInt32>
    let v6: Ranges<UInt128>

    /// `v6Bucketing` is for tests, which check both IPv6 bucketings on small tables.
    init(v4: [Prefix<UInt32>], v6: [Prefix<UInt128>], v6Bucketing: Bucketing? = nil) {
        self.v4 = Ranges(v4, bucketing: .v4)
        // A few thousand prefixes (the attributor's CIDR and ignore tables) search fast enough
        // without 4 MiB of offsets.
        self.v6 = Ranges(v6, bucketing: v6Bucketing ?? (v6.count < 4096 ? .v4 : .v6))
        v6Highs = self.v6.starts.map { UInt64(truncatingIfNeeded: $0 >> 64) }
        v6Lows = self.v6.starts.map { UInt64(truncatingIfNeeded: $0) }
    }

    /// The IPv6 cuts' halves, searched instead of `v6.starts`: a cut of a prefix of /64 or
    /// shorter (nearly all routed IPv6) has a zero low half, so the search compares one 64-bit
    /// word per step and touches half the memory; the low half breaks a tie.
    private let v6Highs: [UInt64]
    private let v6Lows: [UInt64]

    @inline(__always)
    private func v6Value(_ address: IPAddress) -> UInt32 {
        let bucket = v6.bucketing.bucket(Self.key(address))
        var low = Int(v6.buckets[bucket])
        var high = Int(v6.buckets[bucket + 1])
        let (h, l) = (address.high, address.low)
        // As `Ranges.value(at:)`: the last cut at or before the address.
        while low < high {
            let middle = (low + high) >> 1
            let cut = v6Highs[middle]
            if cut < h || (cut == h && v6Lows[middle] <= l) { low = middle + 1 } else { high = middle }
        }
        return v6.values[low - 1]
    }

    /// Builds from prefixes in order; a prefix listed twice takes its last value.
    init(_ prefixes: [(CIDR, UInt32)], v6Bucketing: Bucketing? = nil) {
        var v4: [Prefix<UInt32>] = []
        var v6: [Prefix<UInt128>] = []
        for (order, (cidr, value)) in prefixes.enumerated() {
            precondition(value != Self.uncovered, "UInt32.max is reserved for \"no prefix covers this address\"")
            let length = UInt8(cidr.prefixLength)
            switch cidr.network.family {
            case .v4: v4.append(Prefix(start: UInt32(truncatingIfNeeded: cidr.network.low), length: length, value: value, order: order))
            case .v6: v6.append(Prefix(start: Self.key(cidr.network), length: length, value: value, order: order))
            }
        }
        self.init(v4: v4, v6: v6, v6Bucketing: v6Bucketing)
    }

    /// Distinct prefixes, both families.
    var prefixCount: Int { v4.prefixCount + v6.prefixCount }

    /// The value of the most specific prefix covering `address`; nil when none does.
    @inline(__always)
    func value(for address: IPAddress) -> UInt32? {
        let value = switch address.family {
        case .v4: v4.value(at: UInt32(truncatingIfNeeded: address.low))
        case .v6: v6Value(address)
        }
        return value == Self.uncovered ? nil : value
    }

    @inline(__always)
    static func key(_ address: IPAddress) -> UInt128 {
        UInt128(address.high) << 64 | UInt128(address.low)
    }
}
