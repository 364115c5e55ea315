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
/// exceeds `N / capacity` is guaranteed to be tracked. The entries sit in a binary min-heap
/// keyed on count, so `add` is O(log capacity) and allocates only while the table first fills.
public struct TopCounts<Key: Hashable & Comparable & Sendable>: Sendable {
    /// One reported key: `count` may overestimate the true count by up to `error`.
    public struct Entry: Sendable, Equatable {
        public var key: Key
        public var count: Int
        public var error: Int

        /// The count that is certain: the key was seen at least this many times.
        public var guaranteed: Int { count - error }
        /// True when `count` is exact (the key was tracked from its first sighting).
        public var isExact: Bool { error == 0 }
    }

    public let capacity: Int
    /// The sum of every count added: the N of the error bound.
    public private(set) var total: Int = 0
    /// Min-heap on `count`.
    private var heap: [Entry] = []
    /// Where each tracked key sits in `heap`.
    private var position: [Key: Int] = [:]

    public init(capacity: Int) {
        precondition(capacity > 0, "TopCounts needs room for at least one key")
        self.capacity = capacity
        heap.reserveCapacity(capacity)
        position.reserveCapacity(capacity)
    }

    /// The number of keys tracked now (at most `capacity`).
    public var trackedCount: Int { heap.count }

    /// The largest possible overestimate of any count: `total / capacity` by the algorithm's
    /// bound, and never more than the smallest tracked count.
    public var errorBound: Int { heap.count < capacity ? 0 : heap[0].count }

    public mutating func add(_ key: Key, _ count: Int = 1) {
        precondition(count >= 0, "counts only grow")
        guard count > 0 else { return }
        total += count
        if let i = position[key] {
            heap[i].count += count
            siftDown(i)
        } else if heap.count < capacity {
            heap.append(Entry(key: key, count: count, error: 0))
            position[key] = heap.count - 1
            siftUp(heap.count - 1)
        } else {
            // Space-Saving: evict the minimum; the newcomer may have been that often already.
            let evicted = heap[0]
            position[evicted.key] = nil
            heap[0] = Entry(key: key, count: evicted.count + count, error: evicted.count)
            position[key] = 0
            siftDown(0)
        }
    }

    /// The `n` keys with the highest counts, highest first; equal counts in key order so the
    /// page does not reshuffle between refreshes.
    public func top(_ n: Int) -> [Entry] {
        let sorted = heap.sorted { a, b in a.count != b.count ? a.count > b.count : a.key < b.key }
        return Array(sorted.prefix(max(n, 0)))
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].count < heap[parent].count else { return }
            swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            guard left < heap.count else { return }
            let right = left + 1
            let child = right < heap.count && heap[right].count < heap[left].count ? right : left
            guard heap[child].count < heap[i].count else { return }
            swapAt(i, child)
            i = child
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        position[heap[a].key] = a
        position[heap[b].key] = b
    }
}
