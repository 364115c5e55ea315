/// The most frequent keys of an unbounded stream (seized names, source ASNs) in fixed memory.
///
/// Bots choose the labels under a seized apex, so the number of distinct names is theirs to set;
/// an exact counter would grow without limit. This is the Space-Saving algorithm (Metwally,
/// Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data Streams",
/// ICDT 2005): at most `capacity` keys are tracked; a new key when the table is full takes over
/// the entry with the smallest count and inherits that count as its possible overestimate.
///
/// Error bound, with N the total of all counts added: for every tracked key,
/// `count - error <= true count <= count`, and `error <= N / capacity`. Any key whose true count
/// exceeds `N / capacity` is guaranteed to be tracked. The entries stay in their slots; a binary
/// min-heap of slot numbers, keyed on count, finds the smallest, so `add` is O(log capacity),
/// moves 4-byte slot numbers rather than entries (a seized name's key is ~300 bytes), hashes
/// the key once for a tracked key (twice for a new one, three times when it evicts another),
/// and allocates only while the table first fills. (A heap of the entries themselves, with a dictionary of their positions updated on
/// every swap, cost ~70k instructions per new name under callgrind, more than the rest of a DNS
/// query's path together.) Inlinable, so each user's module specializes it for its key: left
/// generic across modules, every heap step looked up the entry type's metadata at run time.
public struct TopCounts<Key: Hashable & Comparable & Sendable>: Sendable {
    /// One reported key: `count` may overestimate the true count by up to `error`.
    public struct Entry: Sendable, Equatable {
        public var key: Key
        public var count: Int
        public var error: Int

        @inlinable
        init(key: Key, count: Int, error: Int) {
            self.key = key
            self.count = count
            self.error = error
        }

        /// The count that is certain: the key was seen at least this many times.
        @inlinable public var guaranteed: Int { count - error }
        /// True when `count` is exact (the key was tracked from its first sighting).
        @inlinable public var isExact: Bool { error == 0 }
    }

    public let capacity: Int
    /// The sum of every count added: the N of the error bound.
    @inlinable public var total: Int { added }
    @usableFromInline var added: Int = 0
    /// The tracked entries; the key that evicts an entry takes over its slot.
    @usableFromInline var entries: [Entry] = []
    /// Min-heap on `count` of slots in `entries`.
    @usableFromInline var heap: [Int32] = []
    /// Where each slot sits in `heap`.
    @usableFromInline var heapIndex: [Int32] = []
    /// The slot of each tracked key.
    @usableFromInline var slots: [Key: Int32] = [:]

    @inlinable
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= Int(Int32.max), "TopCounts needs room for 1 to Int32.max keys")
        self.capacity = capacity
        entries.reserveCapacity(capacity)
        heap.reserveCapacity(capacity)
        heapIndex.reserveCapacity(capacity)
        slots.reserveCapacity(capacity)
    }

    /// The number of keys tracked now (at most `capacity`).
    @inlinable public var trackedCount: Int { entries.count }

    /// The largest possible overestimate of any count: `total / capacity` by the algorithm's
    /// bound, and never more than the smallest tracked count.
    @inlinable public var errorBound: Int { entries.count < capacity ? 0 : count(atHeap: 0) }

    @inlinable
    public mutating func add(_ key: Key, _ count: Int = 1) {
        precondition(count >= 0, "counts only grow")
        guard count > 0 else { return }
        added += count
        if let slot = slots[key] {
            entries[Int(slot)].count += count
            siftDown(Int(heapIndex[Int(slot)]))
        } else if entries.count < capacity {
            let slot = Int32(entries.count)
            entries.append(Entry(key: key, count: count, error: 0))
            slots[key] = slot
            heap.append(slot)
            heapIndex.append(Int32(heap.count - 1))
            siftUp(heap.count - 1)
        } else {
            // Space-Saving: evict the minimum; the newcomer may have been that often already.
            let slot = heap[0]
            let evicted = entries[Int(slot)]
            slots[evicted.key] = nil
            entries[Int(slot)] = Entry(key: key, count: evicted.count + count, error: evicted.count)
            slots[key] = slot
            siftDown(0)
        }
    }

    /// The `n` keys with the highest counts, highest first; equal counts in key order so the
    /// page does not reshuffle between refreshes. Picked in one pass, not by sorting every
    /// tracked entry: a snapshot asks for ten of a thousand, every second.
    @inlinable
    public func top(_ n: Int) -> [Entry] {
        let n = min(max(n, 0), entries.count)
        guard n > 0 else { return [] }
        // Most of them: a sort is cheaper than inserting each into a long list.
        if n > 64 { return Array(entries.sorted(by: Self.ranksBefore).prefix(n)) }
        var best: [Entry] = []
        best.reserveCapacity(n + 1)
        for entry in entries {
            if best.count == n, !Self.ranksBefore(entry, best[n - 1]) { continue }
            var at = best.count
            while at > 0 && Self.ranksBefore(entry, best[at - 1]) { at -= 1 }
            best.insert(entry, at: at)
            if best.count > n { best.removeLast() }
        }
        return best
    }

    @inlinable
    static func ranksBefore(_ a: Entry, _ b: Entry) -> Bool {
        a.count != b.count ? a.count > b.count : a.key < b.key
    }

    @inlinable
    func count(atHeap index: Int) -> Int { entries[Int(heap[index])].count }

    @inlinable
    mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard count(atHeap: i) < count(atHeap: parent) else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    @inlinable
    mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            guard left < heap.count else { return }
            let right = left + 1
            let child = right < heap.count && count(atHeap: right) < count(atHeap: left) ? right : left
            guard count(atHeap: child) < count(atHeap: i) else { return }
            swapAt(i, child)
            i = child
        }
    }

    @inlinable
    mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heapIndex[Int(heap[a])] = Int32(a)
        heapIndex[Int(heap[b])] = Int32(b)
    }
}
