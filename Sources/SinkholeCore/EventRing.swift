import Synchronization

/// A lock-free single-producer/single-consumer ring of fixed-size events.
///
/// One producer thread (an event loop, the capture thread) pushes; one consumer (the writer)
/// drains. `push` never blocks, takes no lock and does not allocate: when the ring is full the
/// event is dropped and counted. At any instant
/// `offered == consumed + dropped + inFlight`, exactly; once the producer has stopped and the
/// ring is drained, `offered == consumed + dropped`.
///
/// Indices grow without wrapping (an `Int` at a billion events a second lasts centuries) and
/// are masked into the slot buffer, so full and empty are told apart by `tail - head`.
public final class EventRing<Element: BitwiseCopyable & Sendable>: Sendable {
    /// A name for logs and metrics (`eventloop-0`, `capture-eth0`).
    public let name: String
    public let capacity: Int

    @usableFromInline let storage: UnsafeRingStorage<Element>

    // Producer-owned: written only by the producer, read by the consumer and by metrics.
    @usableFromInline let tail = Atomic<Int>(0)
    @usableFromInline let droppedCount = Atomic<Int>(0)
    /// The producer's last look at `head`. The ring has at least `capacity - (tail -
    /// cachedHead)` free slots, so `push` reads the consumer's `head` (a cache line the other
    /// core writes) only when the ring looks full, not on every event. Only the producer
    /// touches it: relaxed is enough.
    @usableFromInline let cachedHead = Atomic<Int>(0)
    /// Producer-only: the consumer's count when the producer last gave up waiting for it, or -1.
    /// Atomic only to be Sendable; relaxed, since only the producer thread touches it.
    let gaveUpAtConsumed = Atomic<Int>(-1)
    // Keeps the consumer's index off the producer's cache line: without it every drain
    // invalidates the line the producer writes on every push (false sharing).
    private let _padding = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    // Consumer-owned: written only by the consumer.
    @usableFromInline let head = Atomic<Int>(0)

    /// Creates a ring of at least `minimumCapacity` slots (rounded up to a power of two).
    /// `filler` initialises the slots, so the memory is committed now rather than on first use.
    public init(name: String, minimumCapacity: Int, filler: Element) {
        precondition(minimumCapacity > 0, "a ring needs at least one slot")
        var capacity = 1
        while capacity < minimumCapacity { capacity <<= 1 }
        self.name = name
        self.capacity = capacity
        storage = UnsafeRingStorage(capacity: capacity, filler: filler)
    }

    deinit {
        storage.deallocate()
    }

    /// Offers one event. Returns false, and counts a drop, when the ring is full.
    /// Call only from this ring's single producer thread.
    @inlinable
    @discardableResult
    public func push(_ element: Element) -> Bool {
        if tryPush(element) { return true }
        // Only this thread writes the counter; relaxed is enough for a count others read.
        droppedCount.wrappingAdd(1, ordering: .relaxed)
        return false
    }

    /// `push` without counting a drop when the ring is full: for a producer that waits for room
    /// and counts the drop itself (`countDrop`) if it gives up. Producer thread only.
    @inlinable
    public func tryPush(_ element: Element) -> Bool {
        guard let t = freeSlot() else { return false }
        storage.write(element, at: t)
        publish(t)
        return true
    }

    /// The index of the next slot if the ring has room for it, else nil. Producer thread only.
    @inlinable
    func freeSlot() -> Int? {
        let t = tail.load(ordering: .relaxed)  // only this thread writes tail
        if t &- cachedHead.load(ordering: .relaxed) >= capacity {
            // Acquiring pairs with the consumer's releasing store of head: the consumer has
            // finished reading every slot below head before we overwrite it.
            let h = head.load(ordering: .acquiring)
            cachedHead.store(h, ordering: .relaxed)
            if t &- h >= capacity { return nil }
        }
        return t
    }

    /// Hands slot `t`, now written, to the consumer. Producer thread only.
    @inlinable
    func publish(_ t: Int) {
        // Releasing pairs with the consumer's acquiring load of tail: the slot write is
        // visible before the consumer can see the new tail.
        tail.store(t &+ 1, ordering: .releasing)
    }

    /// Builds the next event straight in its slot, with no copy on the way: `build` gets the
    /// free slot (holding an older event, so it must set every field, as assigning a whole
    /// new value does) and says whether the input made an event; only then is the slot
    /// published. When the ring is full `build` gets `overflow` instead, and an event it makes
    /// there is counted as dropped. Returns nil when no event was made, else whether it got a
    /// slot. Producer thread only.
    ///
    /// For producers that make an event per input at rates where copying it costs (the
    /// capture thread: 1.7 KiB a packet, into the slot and out of a return value).
    @inlinable
    public func push(building build: (inout Element) -> Bool, overflow: inout Element) -> Bool? {
        guard let t = freeSlot() else {
            guard build(&overflow) else { return nil }
            droppedCount.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        guard storage.withSlot(at: t, build) else { return nil }
        publish(t)
        return true
    }

    /// Counts one event the producer gave up on after `tryPush` failed. Producer thread only.
    @inlinable
    public func countDrop() {
        droppedCount.wrappingAdd(1, ordering: .relaxed)
    }

    /// Takes up to `maximum` events in order, calling `body` for each. Returns how many.
    /// Call only from this ring's single consumer thread.
    @inlinable
    @discardableResult
    public func drain(maximum: Int = .max, _ body: (Element) throws -> Void) rethrows -> Int {
        let h = head.load(ordering: .relaxed)  // only this thread writes head
        // Acquiring pairs with the producer's releasing store of tail (slot contents visible).
        let t = tail.load(ordering: .acquiring)
        let available = min(t &- h, maximum)
        if available <= 0 { return 0 }
        var taken = 0
        defer {
            // Releasing pairs with the producer's acquiring load of head: our slot reads are
            // complete before the producer may reuse the slots. Done in defer so a throwing
            // body still releases what it consumed.
            head.store(h &+ taken, ordering: .releasing)
        }
        while taken < available {
            let element = storage.read(at: h &+ taken)
            taken += 1
            try body(element)
        }
        return taken
    }

    /// Takes the oldest event, if any. Consumer thread only.
    @inlinable
    public func pop() -> Element? {
        var result: Element? = nil
        drain(maximum: 1) { result = $0 }
        return result
    }

    /// A snapshot of the ring's counters, safe to read from any thread.
    ///
    /// Each value is exact; read while the producer is running, `offered` may already include
    /// an event that `inFlight` does not (they are loaded one after the other).
    public var counts: Counts {
        // Acquiring loads of head before tail: tail is never seen behind head.
        let h = head.load(ordering: .acquiring)
        let t = tail.load(ordering: .acquiring)
        let d = droppedCount.load(ordering: .acquiring)
        return Counts(accepted: t, dropped: d, consumed: h)
    }

    /// The ring's counters. `offered == consumed + dropped + inFlight`.
    public struct Counts: Sendable, Equatable {
        /// Events that got a slot.
        public var accepted: Int
        /// Events refused because the ring was full.
        public var dropped: Int
        /// Events the consumer has taken.
        public var consumed: Int

        public var offered: Int { accepted + dropped }
        public var inFlight: Int { accepted - consumed }

        public init(accepted: Int, dropped: Int, consumed: Int) {
            self.accepted = accepted
            self.dropped = dropped
            self.consumed = consumed
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension EventRing {
    /// How long a producer waits on a full ring for a consumer that takes nothing, before it
    /// counts the event as dropped (at least: it is counted in short sleeps): longer than a
    /// healthy writer's commit at the default batch sizes, so only a writer that is really
    /// stalled (a failing store, retrying) makes producers drop. A writer waiting for a commit
    /// of much larger batches (`writer.dns_batch_size`) can outlast it when it cannot keep up.
    public static var stallMicroseconds: Int { 250_000 }

    /// Pushes `element`, waiting while the ring is full and the consumer keeps draining it;
    /// gives up, counting a drop, once the consumer has taken nothing for `stallMicroseconds`
    /// (by default `Self.stallMicroseconds`; a producer that loses nothing by waiting longer,
    /// a capture file, passes its own). Returns whether the event got a slot. Producer thread only.
    ///
    /// Waiting is flow control, not blocking on a failure: while the writer drains, the kernel
    /// queues what arrives meanwhile (socket buffers, unread TCP bytes), so a burst the writer
    /// can absorb is stored instead of dropped, and a producer sharing a core with the writer
    /// sleeps so the writer can run. A stalled writer (a failing store) costs each producer one
    /// wait, then drops are counted at once until the consumer moves again.
    public func pushWaitingForConsumer(_ element: Element, stallMicroseconds: Int? = nil) -> Bool {
        let stallMicroseconds = stallMicroseconds ?? Self.stallMicroseconds
        if tryPush(element) { return true }
        var consumed = counts.consumed
        // Still stalled since the last give-up: drop at once, so a dead writer costs one wait,
        // not one per event.
        if consumed == gaveUpAtConsumed.load(ordering: .relaxed) {
            countDrop()
            return false
        }
        var stalled = 0
        while stalled < stallMicroseconds {
            // Sleeping, not spinning: on a host where the writer shares this core, the sleep
            // is what lets it run.
            usleep(200)
            if tryPush(element) { return true }
            let now = counts.consumed
            if now != consumed {
                consumed = now
                stalled = 0
            } else {
                stalled += 200
            }
        }
        gaveUpAtConsumed.store(consumed, ordering: .relaxed)
        countDrop()
        return false
    }
}
