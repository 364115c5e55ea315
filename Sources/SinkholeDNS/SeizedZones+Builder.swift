import SinkholeCore

extension SeizedZones {
    /// Fills a `SeizedZones` one family and one name at a time, each name normalised once,
    /// straight from its bytes into the arena: a list of a million names is indexed without a
    /// `String` or an array per name.
    ///
    /// Add a family, then insert its names; names go to the family added last. Families are
    /// numbered in the order they are added, and the first family to list a name keeps it.
    public struct Builder: Sendable {
        @usableFromInline
        var zones = SeizedZones()

        public init() {}

        /// Adds a family whose names will come through `insert(_:)`.
        public mutating func addFamily(name: String, answers: [IPAddress]) {
            appendFamily(SeizedFamily(name: name, domains: [], answers: answers))
        }

        /// Adds a family and indexes its `domains`, which it keeps. Throws on the first
        /// invalid domain, naming it and the family.
        public mutating func addFamily(_ family: SeizedFamily) throws(InvalidSeizedDomain) {
            appendFamily(family)
            for domain in family.domains {
                do {
                    _ = try insert(domain.utf8)
                } catch {
                    throw InvalidSeizedDomain(family: family.name, domain: domain, reason: error)
                }
            }
        }

        private mutating func appendFamily(_ family: SeizedFamily) {
            precondition(zones.families.count < Int(Int32.max), "too many families")
            zones.families.append(family)
        }

        /// Makes room for `names` more names taking `bytes` more bytes in text form (a list
        /// file's size is enough: a name's wire form is no longer than its line). Sizing the
        /// table once up front spares rehashing it as it fills.
        public mutating func reserveCapacity(names: Int, bytes: Int) {
            zones.reserveSlots(for: zones.entries.count + names)
            Self.grow(&zones.entries, by: names)
            Self.grow(&zones.arena, by: bytes)
        }

        /// Room for `extra` more elements, at least doubling when it must grow: one reservation
        /// per list file must not copy the arena once per file (a family of many small lists).
        /// Capacity not yet written to is address space, not resident memory.
        private static func grow<Element>(_ array: inout [Element], by extra: Int) {
            let needed = array.count + extra
            guard needed > array.capacity else { return }
            array.reserveCapacity(array.isEmpty ? needed : max(needed, 2 * array.capacity))
        }

        /// Indexes one name in text form (`Evil.Example.`; no escapes; A-labels only) for the
        /// family added last. Returns false when the name was already listed, by any family:
        /// it stays with the first and `duplicateCount` counts it. Throws, indexing nothing,
        /// when the name is not usable (`SeizedZones.problem(with:)` says the same).
        @inlinable
        public mutating func insert(_ name: some Collection<UInt8>) throws(InvalidSeizedDomain.Reason) -> Bool {
            if let result = name.withContiguousStorageIfAvailable({ insert(contiguous: $0) }) {
                return try result.get()
            }
            return try Array(name).withUnsafeBufferPointer { insert(contiguous: $0) }.get()
        }

        @usableFromInline
        mutating func insert(contiguous name: UnsafeBufferPointer<UInt8>) -> Result<Bool, InvalidSeizedDomain.Reason> {
            precondition(!zones.families.isEmpty, "insert before addFamily")
            do {
                return .success(try zones.insert(name, family: Int32(zones.families.count - 1)))
            } catch {
                return .failure(error)
            }
        }

        /// The matcher. The builder is spent: its storage moves into the result.
        public consuming func build() -> SeizedZones { zones }
    }

    /// Normalises `text` onto the end of the arena, then keeps it as a new entry or, when the
    /// name is already there, takes it back off and counts a duplicate.
    mutating func insert(_ text: UnsafeBufferPointer<UInt8>, family: Int32) throws(InvalidSeizedDomain.Reason) -> Bool {
        let start = arena.count
        do {
            try Self.appendWire(normalising: text, to: &arena)
        } catch {
            arena.removeLast(arena.count - start)
            throw error
        }
        // The slices below are temporaries, gone before `arena` is changed again, so removing
        // the name does not copy the arena.
        let hash = Self.nameHash(arena[start...])
        if find(arena[start...], hash: hash) != nil {
            arena.removeLast(arena.count - start)
            duplicateCount += 1
            return false
        }
        precondition(arena.count <= Int(UInt32.max) && entries.count < Int(Int32.max), "too many seized names")
        reserveSlots(for: entries.count + 1)
        let entry = Entry(start: UInt32(start), hash: UInt32(truncatingIfNeeded: hash), family: family,
                          length: UInt8(arena.count - start))
        entries.append(entry)
        place(Int32(entries.count - 1), hash: entry.hash)
        return true
    }

    /// Grows the table, when needed, to a power of two at least twice `count`: the entries
    /// are placed again from their stored hashes, no name is hashed twice.
    mutating func reserveSlots(for count: Int) {
        guard count * 2 > slots.count else { return }
        var capacity = slots.count
        while capacity < count * 2 { capacity *= 2 }
        slots = [Int32](repeating: -1, count: capacity)
        for (index, entry) in entries.enumerated() { place(Int32(index), hash: entry.hash) }
    }

    /// Puts entry `index` in the first empty slot from its home slot on.
    private mutating func place(_ index: Int32, hash: UInt32) {
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = index
    }
}
