import Synchronization

/// Every producer's `EventRing`, so the writer can drain them all.
///
/// A producer registers once (an event loop when the server starts, the capture thread when it
/// opens its handle) and then pushes to its own ring with no shared state at all. Registration
/// takes a lock; pushing never does. The writer takes a snapshot of the list on each pass, so
/// rings registered later are drained too.
public final class EventRings<Element: BitwiseCopyable & Sendable>: Sendable {
    /// Slots per registered ring, fixed at start from the configured memory budget.
    public let slotsPerRing: Int
    private let filler: Element
    private let rings = Mutex<[EventRing<Element>]>([])

    public init(slotsPerRing: Int, filler: Element) {
        self.slotsPerRing = slotsPerRing
        self.filler = filler
    }

    /// Splits `memoryBytes` evenly over `producers` rings (each a power of two slots, at least
    /// 1024), so the total stays within the budget.
    public convenience init(memoryBytes: Int, producers: Int, filler: Element) {
        let perRing = memoryBytes / max(producers, 1) / max(MemoryLayout<Element>.stride, 1)
        var slots = 1024
        while slots * 2 <= perRing { slots *= 2 }
        self.init(slotsPerRing: slots, filler: filler)
    }

    /// Creates and registers the ring for one producer thread.
    public func register(name: String) -> EventRing<Element> {
        let ring = EventRing(name: name, minimumCapacity: slotsPerRing, filler: filler)
        rings.withLock { $0.append(ring) }
        return ring
    }

    /// The rings registered so far, in registration order.
    public var all: [EventRing<Element>] {
        rings.withLock { $0 }
    }

    /// Counters summed over every ring.
    public var totals: EventRing<Element>.Counts {
        all.reduce(into: .init(accepted: 0, dropped: 0, consumed: 0)) { sum, ring in
            let c = ring.counts
            sum.accepted += c.accepted
            sum.dropped += c.dropped
            sum.consumed += c.consumed
        }
    }
}
