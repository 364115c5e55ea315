import DequeModule
import SinkholeCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One producers-to-consumer run: how many events got through, how many were dropped, how long.
struct QueueRun {
    var consumed: Int
    var dropped: Int
    var seconds: Double
    var eventsPerSecond: Double { Double(consumed) / seconds }
}

/// The queue under test, seen from the benchmark: one producer side per producer thread and
/// one consumer side. Both implementations drop when full, as the sinkhole's producers must
/// never block.
protocol BenchQueue: Sendable {
    /// Offers one event from producer `producer`; false when it was dropped.
    func push(_ event: CheckIn, producer: Int) -> Bool
    /// Takes whatever is queued, calling `body` for each event; returns how many.
    func drainAll(_ body: (CheckIn) -> Void) -> Int
}

/// The sinkhole's way: one `EventRing` per producer, the consumer drains each in turn.
final class RingQueue: BenchQueue {
    let rings: [EventRing<CheckIn>]

    init(producers: Int, capacity: Int) {
        rings = (0..<producers).map {
            EventRing(name: "bench-\($0)", minimumCapacity: capacity, filler: Fixtures.dnsQuery())
        }
    }

    @inline(__always)
    func push(_ event: CheckIn, producer: Int) -> Bool { rings[producer].push(event) }

    @inline(__always)
    func drainAll(_ body: (CheckIn) -> Void) -> Int {
        var taken = 0
        for ring in rings { taken += ring.drain(body) }
        return taken
    }
}

/// The anchor: the obvious locked queue every producer shares, bounded like a ring. The
/// consumer moves up to `batch` events out under the lock and processes them outside it.
final class MutexDequeQueue: BenchQueue {
    let queue: Mutex<Deque<CheckIn>>
    let capacity: Int
    static let batch = 4096

    init(capacity: Int) {
        self.capacity = capacity
        queue = Mutex(Deque(minimumCapacity: capacity))
    }

    @inline(__always)
    func push(_ event: CheckIn, producer: Int) -> Bool {
        queue.withLock { q in
            guard q.count < capacity else { return false }
            q.append(event)
            return true
        }
    }

    func drainAll(_ body: (CheckIn) -> Void) -> Int {
        // One buffer per consumer call is fine: it is allocated once per drain of up to `batch`.
        var taken = 0
        var buffer = [CheckIn]()
        buffer.reserveCapacity(Self.batch)
        while true {
            buffer.removeAll(keepingCapacity: true)
            queue.withLock { q in
                let k = min(q.count, Self.batch)
                buffer.append(contentsOf: q.prefix(k))
                q.removeFirst(k)
            }
            if buffer.isEmpty { return taken }
            for event in buffer { body(event) }
            taken += buffer.count
        }
    }
}

/// Runs `producers` threads each pushing `eventsPerProducer` events (stopping early at
/// `timeLimit`) while the calling thread consumes, and times it from the start signal until the
/// consumer has taken the last event.
func runQueue(_ queue: some BenchQueue, producers: Int, eventsPerProducer: Int,
              batchingConsumer: Bool, timeLimit: Duration = .seconds(10)) -> QueueRun {
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let finished = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let clock = ContinuousClock()
    let deadline = clock.now + timeLimit

    var threads: [BenchThread] = []
    for p in 0..<producers {
        threads.append(BenchThread {
            var event = Fixtures.dnsQuery(source: 0xCB00_7100 &+ UInt32(p))
            var drops = 0
            ready.wrappingAdd(1, ordering: .relaxed)
            while !go.load(ordering: .acquiring) {}
            for i in 0..<eventsPerProducer {
                // Vary the event so nothing is hoisted out of the loop.
                event.sourcePort = UInt16(truncatingIfNeeded: i)
                if !queue.push(event, producer: p) { drops += 1 }
                if i & 0xFFFF == 0, clock.now > deadline { break }
            }
            dropped.wrappingAdd(drops, ordering: .relaxed)
            // Releasing pairs with the consumer's acquiring load: every push above is done
            // before the consumer sees this producer as finished.
            finished.wrappingAdd(1, ordering: .releasing)
        })
    }
    while ready.load(ordering: .relaxed) < producers {}

    var consumed = 0
    var checksum = 0
    let start = clock.now
    go.store(true, ordering: .releasing)
    while true {
        // Read "all finished" before draining, so the drain after it sees every event.
        let allFinished = finished.load(ordering: .acquiring) == producers
        let taken = queue.drainAll { checksum &+= Int($0.sourcePort) &+ $0.name.count }
        consumed += taken
        if taken == 0 && allFinished { break }
        if batchingConsumer {
            // Like the writer: when less than a batch was waiting, pause instead of spinning
            // on the producer's cache lines (the writer sleeps its idle poll).
            if taken < MutexDequeQueue.batch { usleep(50) }
        } else if taken == 0 && producers > 1 {
            // Three threads on two cores: give a producer the core.
            sched_yield()
        }
    }
    let elapsed = clock.now - start
    for thread in threads { thread.join() }
    blackHole(checksum)
    let (s, atto) = elapsed.components
    return QueueRun(consumed: consumed, dropped: dropped.load(ordering: .relaxed),
                    seconds: Double(s) + Double(atto) / 1e18)
}
