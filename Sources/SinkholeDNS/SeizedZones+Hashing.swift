extension SeizedZones {
    // The hash is `NameHasher`: a multiply-xorshift over eight-byte words, seeded at random
    // per process. It replaced the standard library's SipHash `Hasher`, which cost about
    // 900 instructions per query (a finalize per suffix) of the UDP path's 11,000.
    //
    // Why a weaker hash is enough here: the table holds only the configured seized names, so
    // whoever sends queries cannot add entries or lengthen a probe sequence; the most a name
    // chosen to land on the table's longest cluster can cost is that cluster's length (short
    // at a load of at most one half), and labels are compared byte for byte, so a collision
    // never matches a wrong name. The seed keeps which names land where unpredictable anyway.

    /// The per-process seed of every name hash (the builder and the lookups share it).
    static let hashSeed = UInt64.random(in: .min ... .max)

    /// A seeded hash fed eight-byte words; `finalize` can be taken after every label, as
    /// `match(wire:)` does for each suffix.
    struct NameHasher {
        private var state: UInt64

        @inline(__always)
        init(seed: UInt64) { state = seed }

        @inline(__always)
        mutating func combine(_ word: UInt64) {
            state = (state ^ word) &* 0x9E37_79B9_7F4A_7C15
            state ^= state &>> 29
        }

        /// MurmurHash3's 64-bit finalizer: every bit of the state reaches the low 32 bits
        /// that pick the home slot.
        @inline(__always)
        func finalize() -> Int {
            var h = state
            h ^= h &>> 33
            h &*= 0xFF51_AFD7_ED55_8CCD
            h ^= h &>> 33
            h &*= 0xC4CE_B9FE_1A85_EC53
            h ^= h &>> 33
            return Int(bitPattern: UInt(h))
        }
    }

    /// Where each label of `wire` (labels without the root) starts, as offsets from
    /// `wire.startIndex`, and how many labels there are (at most 127 in a valid name).
    @inline(__always)
    static func labelStarts(_ wire: ArraySlice<UInt8>) -> (InlineArray<128, UInt8>, Int) {
        var starts = InlineArray<128, UInt8>(repeating: 0)
        var labelCount = 0
        var i = wire.startIndex
        while i < wire.endIndex, labelCount < 128 {
            starts[labelCount] = UInt8(truncatingIfNeeded: i - wire.startIndex)
            labelCount += 1
            i += 1 + Int(wire[i])
        }
        return (starts, labelCount)
    }

    /// The hash of a whole name: its labels fed right to left, as `match(wire:)` does for
    /// every suffix of a query.
    static func nameHash(_ wire: ArraySlice<UInt8>) -> Int {
        let (starts, labelCount) = labelStarts(wire)
        var hasher = NameHasher(seed: hashSeed)
        for k in stride(from: labelCount - 1, through: 0, by: -1) {
            combineLabel(wire, at: wire.startIndex + Int(starts[k]), into: &hasher)
        }
        return hasher.finalize()
    }

    /// Feeds the label at `start`, length byte first (so `ab.c` and `a.bc` differ), letters
    /// folded to lowercase, eight bytes to a word: the length byte says where the label ends,
    /// so the zero padding of its last word cannot make two names feed the same words.
    @inline(__always)
    static func combineLabel(_ wire: ArraySlice<UInt8>, at start: Int, into hasher: inout NameHasher) {
        let end = min(start + 1 + Int(wire[start]), wire.endIndex)
        var i = start
        while i < end {
            var word: UInt64 = 0
            var shift: UInt64 = 0
            while i < end, shift < 64 {
                word |= UInt64(wire[i]) &<< shift
                shift += 8
                i += 1
            }
            hasher.combine(asciiLowercased(word))
        }
    }

    /// `asciiLowercased` on each of the eight bytes of `word` at once: a byte in `A`…`Z`
    /// gets bit 5 set. Bytes over 0x7F, and label lengths (at most 63, below `A`), are kept.
    @inline(__always)
    static func asciiLowercased(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let low7 = word & ~high
        // Per byte, no carry into the next: low7 ≤ 0x7F, so low7 + 0x3F ≤ 0xBE and
        // low7 + 0x25 ≤ 0xA4. Bit 7 of each sum says low7 ≥ 'A' (0x41), resp. > 'Z' (0x5A).
        let atLeastA = low7 &+ ones &* (0x80 - 0x41)
        let aboveZ = low7 &+ ones &* (0x80 - 0x5B)
        let upper = atLeastA & ~aboveZ & ~word & high
        return word | (upper &>> 2)
    }
}
