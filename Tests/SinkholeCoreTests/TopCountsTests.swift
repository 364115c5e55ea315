import Foundation
import SinkholeCore
import Testing

@Suite("TopCounts: the most frequent keys in bounded memory")
struct TopCountsTests {
    @Test("below capacity the counts are exact, sorted by count then key")
    func exactBelowCapacity() {
        var top = TopCounts<String>(capacity: 8)
        for (key, count) in [("b.example", 3), ("a.example", 3), ("c.example", 5), ("d.example", 1)] {
            for _ in 0..<count { top.add(key) }
        }
        let entries = top.top(3)
        #expect(entries.map(\.key) == ["c.example", "a.example", "b.example"])
        #expect(entries.map(\.count) == [5, 3, 3])
        #expect(entries.allSatisfy { $0.isExact })
        #expect(top.total == 12)
        #expect(top.top(100).count == 4)
        #expect(top.top(0).isEmpty)
    }

    @Test("top(n) picks what a full sort by count, then key, would put first, ties included")
    func topMatchesFullSort() {
        var rng = SplitMix64(seed: 0x70F)
        var top = TopCounts<UInt32>(capacity: 256)
        var truth: [UInt32: Int] = [:]
        // 200 keys under capacity, so every count is exact; small weights make many ties.
        for _ in 0..<5_000 {
            let key = UInt32(rng.next() % 200)
            let weight = Int(rng.next() % 3) + 1
            top.add(key, weight)
            truth[key, default: 0] += weight
        }
        let expected = truth.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        for n in [1, 2, 10, 199, 200, 500] {
            let got = top.top(n)
            #expect(got.map(\.key) == expected.prefix(n).map(\.key), "n = \(n)")
            #expect(got.map(\.count) == expected.prefix(n).map(\.value), "n = \(n)")
        }
    }

    @Test("a skewed stream of 1M check-ins over 10k keys: the true top 10 is recovered, within the error bound")
    func skewedStream() {
        let distinct = 10_000
        let events = 1_000_000
        let capacity = 1024
        // Zipf(1.1) weights, sampled with a seeded generator so the stream repeats.
        var cumulative = [Double]()
        cumulative.reserveCapacity(distinct)
        var sum = 0.0
        for rank in 1...distinct {
            sum += 1 / pow(Double(rank), 1.1)
            cumulative.append(sum)
        }
        var rng = SplitMix64(seed: 0x5EED)
        var truth = [Int](repeating: 0, count: distinct)
        var top = TopCounts<UInt32>(capacity: capacity)
        for _ in 0..<events {
            let u = Double(rng.next() >> 11) / Double(1 << 53) * sum
            var lo = 0
            var hi = distinct - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
            }
            // Keys are scrambled so the key order does not follow the rank.
            let key = UInt32(truncatingIfNeeded: (lo &* 7919) % distinct)
            truth[Int(key)] += 1
            top.add(key)
        }
        #expect(top.total == events)
        #expect(top.trackedCount == capacity)
        let trueTop = truth.indices.sorted { truth[$0] != truth[$1] ? truth[$0] > truth[$1] : $0 < $1 }.prefix(10)
        let reported = top.top(10)
        #expect(reported.map { Int($0.key) } == Array(trueTop))
        let bound = events / capacity
        #expect(top.errorBound <= bound)
        for entry in top.top(capacity) {
            let actual = truth[Int(entry.key)]
            #expect(entry.guaranteed <= actual, "key \(entry.key)")
            #expect(actual <= entry.count, "key \(entry.key)")
            #expect(entry.error <= bound)
        }
        // Every key more frequent than N / capacity is tracked (the algorithm's guarantee).
        let tracked = Set(top.top(capacity).map(\.key))
        for key in truth.indices where truth[key] > bound {
            #expect(tracked.contains(UInt32(key)), "key \(key) seen \(truth[key]) times")
        }
    }

    @Test("memory stays at capacity however many distinct keys arrive; a key above N / capacity survives the churn exactly")
    func boundedUnderChurn() {
        var top = TopCounts<String>(capacity: 64)
        for _ in 0..<500 { top.add("heavy.c2.example") }
        for i in 0..<10_000 { top.add("bot-\(i).c2.example") }
        #expect(top.trackedCount == 64)
        // N / capacity = 10,500 / 64 = 164 < 500: the heavy name is guaranteed to stay tracked.
        #expect(top.errorBound <= top.total / 64)
        let first = top.top(1)[0]
        #expect(first.key == "heavy.c2.example")
        #expect(first.count == 500)
        #expect(first.isExact)
        // Each bot name was seen once: everything above 1 is the count it inherited on eviction.
        for entry in top.top(64).dropFirst() {
            #expect(entry.error == entry.count - 1)
            #expect(entry.guaranteed == 1)
        }
    }

    @Test("a key below N / capacity can be evicted by churn: the bound, not a promise of exactness")
    func evictedBelowBound() {
        var top = TopCounts<String>(capacity: 4)
        for _ in 0..<50 { top.add("light.c2.example") }
        for i in 0..<10_000 { top.add("bot-\(i).c2.example") }
        #expect(top.trackedCount == 4)
        #expect(!top.top(4).contains { $0.key == "light.c2.example" })
        for entry in top.top(4) { #expect(entry.error <= top.total / 4) }
    }

    @Test("weighted adds count like repeated ones")
    func weighted() {
        var top = TopCounts<UInt32>(capacity: 2)
        top.add(64_496, 40)
        top.add(64_497, 2)
        top.add(64_496, 2)
        top.add(64_498, 0)
        #expect(top.top(2).map(\.key) == [64_496, 64_497])
        #expect(top.top(2).map(\.count) == [42, 2])
        #expect(top.total == 44)
    }
}

/// Deterministic test randomness (splitmix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
