import Foundation
import SinkholeCore
import Synchronization
import Testing

@Suite("EventRing, single-threaded")
struct EventRingTests {
    @Test("capacity rounds up to a power of two")
    func capacity() {
        #expect(EventRing(name: "r", minimumCapacity: 5, filler: 0).capacity == 8)
        #expect(EventRing(name: "r", minimumCapacity: 8, filler: 0).capacity == 8)
        #expect(EventRing(name: "r", minimumCapacity: 1, filler: 0).capacity == 1)
    }

    /// Every head/tail position: for each starting offset (where the indices sit relative to the
    /// slot buffer's end) and each fill level, push, drain and check order and counts.
    @Test("every head and tail wrap position keeps order and counts", arguments: [1, 2, 4, 8])
    func everyWrapPosition(capacity: Int) {
        for offset in 0..<(2 * capacity) {
            for fill in 0...(capacity + 1) {
                let ring = EventRing<Int>(name: "r", minimumCapacity: capacity, filler: -1)
                // Move head and tail to `offset`.
                for i in 0..<offset {
                    #expect(ring.push(i))
                    #expect(ring.pop() == i)
                }
                var accepted: [Int] = []
                for v in 0..<fill {
                    if ring.push(1000 + v) { accepted.append(1000 + v) }
                }
                #expect(accepted == Array(1000..<(1000 + min(fill, capacity))))
                var drained: [Int] = []
                ring.drain { drained.append($0) }
                #expect(drained == accepted)
                #expect(ring.pop() == nil)
                let c = ring.counts
                #expect(c.offered == offset + fill)
                #expect(c.dropped == max(0, fill - capacity))
                #expect(c.offered == c.consumed + c.dropped + c.inFlight)
                #expect(c.inFlight == 0)
            }
        }
    }

    @Test("a full ring drops and counts instead of overwriting")
    func fullRingDrops() {
        let ring = EventRing<Int>(name: "r", minimumCapacity: 4, filler: 0)
        for i in 0..<10 { ring.push(i) }
        #expect(ring.counts == .init(accepted: 4, dropped: 6, consumed: 0))
        var seen: [Int] = []
        ring.drain(maximum: 2) { seen.append($0) }
        #expect(seen == [0, 1])
        #expect(ring.push(10) && ring.push(11) && !ring.push(12))
        ring.drain { seen.append($0) }
        #expect(seen == [0, 1, 2, 3, 10, 11])
        let c = ring.counts
        #expect(c.offered == 13 && c.dropped == 7 && c.consumed == 6 && c.inFlight == 0)
    }

    @Test("a throwing consumer still releases what it took")
    func throwingDrain() {
        struct Stop: Error {}
        let ring = EventRing<Int>(name: "r", minimumCapacity: 8, filler: 0)
        for i in 0..<5 { ring.push(i) }
        #expect(throws: Stop.self) { try ring.drain { if $0 == 2 { throw Stop() } } }
        #expect(ring.counts.consumed == 3)
        #expect(ring.pop() == 3)
    }

    @Test("tryPush on a full ring counts nothing; countDrop counts the one given up on")
    func tryPushAndCountDrop() {
        let ring = EventRing<Int>(name: "r", minimumCapacity: 2, filler: 0)
        #expect(ring.tryPush(1) && ring.tryPush(2))
        #expect(!ring.tryPush(3) && !ring.tryPush(3))
        #expect(ring.counts == .init(accepted: 2, dropped: 0, consumed: 0))
        #expect(ring.pop() == 1)
        #expect(ring.tryPush(3))
        #expect(!ring.tryPush(4))
        ring.countDrop()
        #expect(ring.counts == .init(accepted: 3, dropped: 1, consumed: 1))
        #expect(ring.counts.offered == ring.counts.consumed + ring.counts.dropped + ring.counts.inFlight)
    }

    @Test("push(building:) publishes what is built in the slot, nothing when the input made no event, and on a full ring builds in the overflow and counts a drop only for an event")
    func pushBuilding() {
        let ring = EventRing<Int>(name: "t", minimumCapacity: 2, filler: -1)
        var overflow = 0
        #expect(ring.push(building: { $0 = 10; return true }, overflow: &overflow) == true)
        // Made no event: the slot is not published, so the next build reuses it.
        var seen: [Int] = []
        let none = ring.push(building: { slot in
            seen.append(slot)
            slot = 99
            return false
        }, overflow: &overflow)
        #expect(none == nil)
        let made = ring.push(building: { slot in
            seen.append(slot)
            slot = 11
            return true
        }, overflow: &overflow)
        #expect(made == true)
        // The filler, then the slot not published handed out again as it was left.
        #expect(seen == [-1, 99])
        #expect(ring.counts == EventRing.Counts(accepted: 2, dropped: 0, consumed: 0))
        // Full: built in the overflow.
        #expect(ring.push(building: { $0 = 12; return true }, overflow: &overflow) == false)
        #expect(overflow == 12)
        #expect(ring.push(building: { $0 = 13; return false }, overflow: &overflow) == nil)
        #expect(ring.counts == EventRing.Counts(accepted: 2, dropped: 1, consumed: 0))
        var taken: [Int] = []
        ring.drain { taken.append($0) }
        #expect(taken == [10, 11])
        // Room again after the drain, and the slots wrap.
        #expect(ring.push(building: { $0 = 14; return true }, overflow: &overflow) == true)
        #expect(ring.pop() == 14)
        #expect(ring.counts == EventRing.Counts(accepted: 3, dropped: 1, consumed: 3))
    }

    @Test("pushWaitingForConsumer stores a burst larger than the ring while the consumer drains")
    func waitsForDrainingConsumer() {
        let ring = EventRing<Int>(name: "r", minimumCapacity: 8, filler: 0)
        let total = 2_000
        let seen = Mutex<[Int]>([])
        // A thread of its own, as the writer has: a task could wait behind the test's own.
        let consumer = Thread {
            let deadline = ContinuousClock.now + .seconds(60)
            while seen.withLock({ $0.count }) < total && ContinuousClock.now < deadline {
                var batch: [Int] = []
                if ring.drain(maximum: 3, { batch.append($0) }) == 0 { usleep(50) }
                seen.withLock { $0 += batch }
            }
        }
        consumer.start()
        for i in 0..<total { #expect(ring.pushWaitingForConsumer(i)) }
        let deadline = ContinuousClock.now + .seconds(60)
        while seen.withLock({ $0.count }) < total && ContinuousClock.now < deadline { usleep(1000) }
        #expect(seen.withLock { $0 } == Array(0..<total))
        #expect(ring.counts.dropped == 0)
    }

    @Test("pushWaitingForConsumer gives up on a consumer that takes nothing, counting one drop")
    func givesUpOnStalledConsumer() {
        let ring = EventRing<Int>(name: "r", minimumCapacity: 2, filler: 0)
        #expect(ring.pushWaitingForConsumer(1) && ring.pushWaitingForConsumer(2))
        #expect(!ring.pushWaitingForConsumer(3))
        #expect(ring.counts == .init(accepted: 2, dropped: 1, consumed: 0))
        // Still stalled: the next ones drop without waiting again (bounded well under one wait each).
        let start = ContinuousClock.now
        for i in 0..<100 { #expect(!ring.pushWaitingForConsumer(4 + i)) }
        #expect(ContinuousClock.now - start < .microseconds(EventRing<Int>.stallMicroseconds))
        #expect(ring.counts.dropped == 101)
        // Once the consumer moves, a full ring is waited on again.
        #expect(ring.pop() == 1)
        #expect(ring.pushWaitingForConsumer(200))
        #expect(!ring.pushWaitingForConsumer(201))
        #expect(ring.counts == .init(accepted: 3, dropped: 102, consumed: 1))
    }

    @Test("registered rings share the memory budget and sum their counts")
    func registry() {
        let rings = EventRings(memoryBytes: 64 * 1024 * 8, producers: 2, filler: 0)
        #expect(rings.slotsPerRing == 32 * 1024)
        let a = rings.register(name: "a")
        let b = rings.register(name: "b")
        a.push(1); b.push(2); b.push(3)
        #expect(rings.all.map(\.name) == ["a", "b"])
        #expect(rings.totals.accepted == 3 && rings.totals.inFlight == 3)
        #expect(EventRings(memoryBytes: 10, producers: 4, filler: 0).slotsPerRing == 1024)
    }
}
