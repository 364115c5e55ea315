extension SeizedZones {
    // The hash is the standard library's `Hasher`: SipHash-1-3 keyed with a seed drawn at
    // random per process (unless the environment sets SWIFT_DETERMINISTIC_HASHING, which a
    // sinkhole must not). Query names come from bots and from whoever wants to slow the
    // sinkhole down; with a secret seed they cannot pick names that share a probe sequence.

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
        var hasher = Hasher()
        for k in stride(from: labelCount - 1, through: 0, by: -1) {
            combineLabel(wire, at: wire.startIndex + Int(starts[k]), into: &hasher)
        }
        return hasher.finalize()
    }

    /// Feeds the label at `start`, length byte first (so `ab.c` and `a.bc` differ), letters
    /// folded to lowercase, eight bytes to a word: the length byte says where the label ends,
    /// so the zero padding of its last word cannot make two names feed the same words.
    @inline(__always)
    static func combineLabel(_ wire: ArraySlice<UInt8>, at start: Int, into hasher: inout Hasher) {
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
