/// Every seized name of every family, matched against query names by label suffix.
///
/// A seized name covers itself and all its subdomains, on label boundaries only:
/// `evil.example` covers `EVIL.example` and `a.b.evil.example`, not `xevil.example`.
/// The longest seized suffix of a name wins, so a subdomain seized for another family is
/// labelled with that family. A name listed by two families belongs to the **first family in
/// configuration order**; later listings are ignored (and counted in `duplicateCount`).
///
/// Built for millions of names (DGA families publish tens of thousands a day): names live
/// lowercased in one byte arena, found through a hash table keyed by a hash of the labels
/// from the right. A lookup hashes every suffix of the query name in one right-to-left pass,
/// then probes from the longest suffix to the shortest: at most 127 probes, no allocation.
public struct SeizedZones: Sendable {
    /// The families in configuration order; `Match.familyIndex` indexes this.
    public let families: [SeizedFamily]

    /// Lowercased wire forms of the seized names (without root label), back to back.
    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// Hash of a name → first entry with that hash; `Entry.next` chains full-hash collisions.
    private var heads: [Int: Int32] = [:]
    /// Names ignored because an earlier family (or the same family) already listed them.
    public private(set) var duplicateCount = 0

    private struct Entry {
        var start: UInt32
        var length: UInt8
        var family: Int32
        var next: Int32
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
        precondition(families.count < Int(Int32.max), "too many families")
        self.families = families
        heads.reserveCapacity(families.reduce(0) { $0 + $1.domains.count })
        for (familyIndex, family) in families.enumerated() {
            for domain in family.domains {
                let wire: [UInt8]
                do {
                    wire = try Self.normalisedWire(domain)
                } catch {
                    throw InvalidSeizedDomain(family: family.name, domain: domain, reason: error)
                }
                insert(wire, family: Int32(familyIndex))
            }
        }
    }

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

    private mutating func insert(_ wire: [UInt8], family: Int32) {
        let hash = Self.wholeNameHash(wire[...])
        if find(wire[...], hash: hash) != nil {
            duplicateCount += 1
            return
        }
        let index = Int32(entries.count)
        entries.append(Entry(
            start: UInt32(arena.count), length: UInt8(wire.count), family: family,
            next: heads[hash] ?? -1
        ))
        arena.append(contentsOf: wire)
        heads[hash] = index
    }

    /// `wire`: labels without the root; every label is checked against `arena` byte for byte,
    /// case-folded, so a hash collision can never produce a false match.
    private func match(wire: ArraySlice<UInt8>) -> Match? {
        var starts = InlineArray<128, UInt8>(repeating: 0)
        var hashes = InlineArray<128, Int>(repeating: 0)
        var labelCount = 0
        var i = wire.startIndex
        while i < wire.endIndex, labelCount < 128 {
            starts[labelCount] = UInt8(i - wire.startIndex)
            labelCount += 1
            i += 1 + Int(wire[i])
        }
        // Right to left: the hasher state after the last k labels is the hash of that
        // suffix, so all suffixes cost one pass over the name.
        var hasher = Hasher()
        for k in stride(from: labelCount - 1, through: 0, by: -1) {
            let start = wire.startIndex + Int(starts[k])
            let end = min(start + 1 + Int(wire[start]), wire.endIndex)
            Self.combineLabel(wire[start..<end], into: &hasher)
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

    private func find(_ wire: ArraySlice<UInt8>, hash: Int) -> Int? {
        var index = heads[hash] ?? -1
        while index >= 0 {
            let entry = entries[Int(index)]
            if Int(entry.length) == wire.count {
                let stored = arena[Int(entry.start)..<(Int(entry.start) + Int(entry.length))]
                if zip(stored, wire).allSatisfy({ $0 == Self.asciiLowercased($1) }) { return Int(index) }
            }
            index = entry.next
        }
        return nil
    }

    private static func wholeNameHash(_ wire: ArraySlice<UInt8>) -> Int {
        var ends: [Range<Int>] = []
        var i = wire.startIndex
        while i < wire.endIndex {
            let end = i + 1 + Int(wire[i])
            ends.append(i..<end)
            i = end
        }
        var hasher = Hasher()
        for label in ends.reversed() { combineLabel(wire[label], into: &hasher) }
        return hasher.finalize()
    }

    /// Feeds one label, length byte first (so `ab.c` and `a.bc` differ), case-folded.
    private static func combineLabel(_ label: ArraySlice<UInt8>, into hasher: inout Hasher) {
        for byte in label { hasher.combine(asciiLowercased(byte)) }
    }
}
