/// The slot buffer of an `EventRing`: the only pointer code in the ring.
///
/// Invariants the owning `EventRing` keeps, and that make these unchecked accesses safe:
/// - `capacity` is a power of two and `mask == capacity - 1`, so `index & mask` is in bounds;
/// - a slot is written only by the producer while it is outside `[head, tail)`, and read only by
///   the consumer while it is inside; the release store of `tail` (producer) and `head`
///   (consumer) publish each side's accesses to the other, so a slot is never read and
///   written at the same time;
/// - the buffer is allocated once, initialised to `filler`, and freed once in `deinit` of the
///   owning ring.
@usableFromInline
struct UnsafeRingStorage<Element: BitwiseCopyable & Sendable>: @unchecked Sendable {
    // @unchecked Sendable: the pointer is shared between exactly one producer and one consumer
    // thread, which the ring's head/tail protocol keeps from touching the same slot at once.
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    @usableFromInline let mask: Int

    init(capacity: Int, filler: Element) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two")
        slots = UnsafeMutablePointer<Element>.allocate(capacity: capacity)
        slots.initialize(repeating: filler, count: capacity)
        mask = capacity - 1
    }

    @inlinable
    func write(_ element: Element, at index: Int) {
        // BitwiseCopyable: plain assignment, no retain/release, no deinitialisation needed.
        (slots + (index & mask)).pointee = element
    }

    /// Lets the producer build an element in place, in a slot outside `[head, tail)` (same
    /// rule as `write`). The slot holds whatever was last there: `body` must set all of it.
    @inlinable
    func withSlot<R>(at index: Int, _ body: (inout Element) throws -> R) rethrows -> R {
        try body(&(slots + (index & mask)).pointee)
    }

    @inlinable
    func read(at index: Int) -> Element {
        (slots + (index & mask)).pointee
    }

    func deallocate() {
        slots.deallocate()
    }
}
