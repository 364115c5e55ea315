/// Every seized name of every family, matched against query names by label suffix.
///
/// A seized name covers itself and all its subdomains, on label boundaries only:
/// `evil.example` covers `EVIL.example` and `a.b.evil.example`, not `xevil.example`.
/// The longest seized suffix of a name wins, so a subdomain seized for another family is
/// labelled with that family. A name listed by two families belongs to the **first family in
/// configuration order**; later listings are ignored (and counted in `duplicateCount`).
///
/// Built for millions of names (DGA families publish tens of thousands a day): names live
/// lowercased in one byte arena, found through an open-addressing table of entry indices
/// keyed by a hash of the labels from the right. A lookup hashes every suffix of the query
/// name in one right-to-left pass, then probes from the longest suffix to the shortest: at
/// most 127 probes, each expected O(1) whatever the number of names, and no allocation.
/// Lists are loaded through `Builder` (straight from a file's bytes) or `init(families:)`.
public struct SeizedZones: Sendable {
    /// The families in configuration order; `Match.familyIndex` indexes this. A family's
    /// `domains` are the names given in text form to `init(families:)`; names a `Builder`
    /// took as bytes (a list file's) are held only in the index, not as `String`s.
    public internal(set) var families: [SeizedFamily] = []
    /// Names ignored because an earlier family (or the same family) already listed them.
    public internal(set) var duplicateCount = 0

    /// Lowercased wire forms of the seized names (without root label), back to back.
    var arena: [UInt8] = []
    var entries: [Entry] = []
    /// Open addressing with linear probing: an index into `entries`, or -1 for an empty slot.
    /// The count is a power of two and at least twice the number of entries (load ≤ 0.5), so
    /// a probe sequence is short and always reaches an empty slot.
    var slots = [Int32](repeating: -1, count: 16)

    struct Entry {
        var start: UInt32
        /// The low 32 bits of the name's hash: the home slot, and a cheap check before the
        /// bytes are compared.
        var hash: UInt32
        var family: Int32
        var length: UInt8
    }

    /// The seized name a query fell under.
    public struct Match: Sendable, Hashable {
        /// Index into `families`.
        public var familyIndex: Int
        /// The family's name.
        public var family: String
        /// The seized name matched (lowercase, no trailing dot), e.g. `evil.example` for a
        /// query for `WWW.Evil.Example`.
        public var apex: String { Self.text(ofWire: arena[apexRange]) }
        /// The apex's length in wire form without the root label: a query name of this length
        /// (also without root) is the apex itself, a longer one is below it. No allocation.
        public var apexWireLength: Int { apexRange.count }
        /// The apex in lowercase wire form without the root label, without copying it: what
        /// response rate limiting accounts answers under this seized name to.
        public var apexWire: ArraySlice<UInt8> { arena[apexRange] }

        // The apex stays in the arena until asked for: building a String per query would
        // allocate on the hot path. Holding the array costs one retain.
        private let arena: [UInt8]
        private let apexRange: Range<Int>

        init(familyIndex: Int, family: String, arena: [UInt8], apexRange: Range<Int>) {
            self.familyIndex = familyIndex
            self.family = family
            self.arena = arena
            self.apexRange = apexRange
        }

        public static func == (lhs: Match, rhs: Match) -> Bool {
            lhs.familyIndex == rhs.familyIndex && lhs.arena[lhs.apexRange] == rhs.arena[rhs.apexRange]
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(familyIndex)
            hasher.combine(arena[apexRange])
        }

        static func text(ofWire wire: ArraySlice<UInt8>) -> String {
            var bytes: [UInt8] = []
            var i = wire.startIndex
            while i < wire.endIndex {
                if i > wire.startIndex { bytes.append(UInt8(ascii: ".")) }
                let end = min(i + 1 + Int(wire[i]), wire.endIndex)
                bytes.append(contentsOf: wire[(i + 1)..<end])
                i = end
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Builds the matcher, validating every domain. Throws on the first invalid one, naming
    /// it and its family.
    public init(families: [SeizedFamily]) throws(InvalidSeizedDomain) {
        var builder = Builder()
        builder.reserveCapacity(
            names: families.reduce(0) { $0 + $1.domains.count },
            bytes: families.reduce(0) { $0 + $1.domains.reduce(0) { $0 + $1.utf8.count + 1 } })
        for family in families { try builder.addFamily(family) }
        self = builder.build()
    }

    /// An empty matcher, for `Builder` to fill.
    init() {}

    /// The number of distinct seized names.
    public var count: Int { entries.count }

    /// The seized name `name` falls under, if any (longest seized suffix).
    public func match(_ name: DNSName) -> Match? {
        // The wire form ends in the root label; the arena holds names without it.
        match(wire: name.wire.dropLast())
    }

    /// The seized name a name in text form (an HTTP Host, a TLS SNI) falls under; nil if it
    /// is not under a seized name or is not a valid name.
    public func match(_ text: some StringProtocol) -> Match? {
        guard let wire = try? Self.normalisedWire(text) else { return nil }
        return match(wire: wire[...])
    }

    /// `wire`: labels without the root; every label is checked against `arena` byte for byte,
    /// case-folded, so a hash collision can never produce a false match.
    private func match(wire: ArraySlice<UInt8>) -> Match? {
        let (starts, labelCount) = Self.labelStarts(wire)
        // Right to left: the hasher state after the last k labels is the hash of that
        // suffix, so all suffixes cost one pass over the name.
        var hashes = InlineArray<128, Int>(repeating: 0)
        var hasher = NameHasher(seed: Self.hashSeed)
        for k in stride(from: labelCount - 1, through: 0, by: -1) {
            Self.combineLabel(wire, at: wire.startIndex + Int(starts[k]), into: &hasher)
            hashes[k] = hasher.finalize()
        }
        for k in 0..<labelCount {
            let suffix = wire[(wire.startIndex + Int(starts[k]))...]
            if let entry = find(suffix, hash: hashes[k]) {
                let e = entries[entry]
                let family = Int(e.family)
                return Match(
                    familyIndex: family, family: families[family].name, arena: arena,
                    apexRange: Int(e.start)..<(Int(e.start) + Int(e.length))
                )
            }
        }
        return nil
    }

    /// The entry holding `name` (any letter case), if any. `hash` is `nameHash(name)`.
    func find(_ name: ArraySlice<UInt8>, hash: Int) -> Int? {
        let tag = UInt32(truncatingIfNeeded: hash)
        let mask = slots.count - 1
        var slot = Int(tag) & mask
        while true {
            let index = slots[slot]
            if index < 0 { return nil }
            let entry = entries[Int(index)]
            if entry.hash == tag, Int(entry.length) == name.count, storedName(entry, equals: name) {
                return Int(index)
            }
            slot = (slot + 1) & mask
        }
    }

    private func storedName(_ entry: Entry, equals name: ArraySlice<UInt8>) -> Bool {
        var stored = Int(entry.start)
        for byte in name {
            guard arena[stored] == Self.asciiLowercased(byte) else { return false }
            stored += 1
        }
        return true
    }
}
