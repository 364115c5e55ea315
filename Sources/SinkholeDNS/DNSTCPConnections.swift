import NIOCore
import Synchronization

/// The open DNS-over-TCP connections of one listener, bounded by `limit`.
///
/// RFC 7766 §10 asks servers to bound the TCP connections they hold. Dormant connections are
/// the ones to give up to reclaim resources (RFC 1035 §4.2.2, quoted in RFC 7766 §6.1), so a
/// connection arriving at the limit closes the one idle longest; only when every connection
/// is in the middle of a message (each bounded by the read timeout) is the newcomer refused.
///
/// Child channels live on different event loops, so the table is behind a `Mutex`. That is
/// taken on accept and close only, never per query: a handler reports busy/idle through its
/// `Slot`'s own atomic, which the table reads only when it must pick a connection to close.
public final class DNSTCPConnections: Sendable {
    /// The default bound per listener. A stub resolver or bot opens one connection per query
    /// and closes it (RFC 7766 §6.1.1), so even this many is rarely reached by honest clients.
    public static let defaultLimit = 256

    /// One admitted connection.
    public final class Slot: Sendable {
        /// Admission order, which breaks ties between connections idle since the same instant.
        let number: Int
        let channel: any Channel
        /// `NIODeadline.uptimeNanoseconds` since which the connection has been idle, or
        /// `busy` while a message is partly read. Relaxed loads and stores: it is a hint for
        /// picking a connection to close, and no other memory is published through it.
        private let idleSince: Atomic<Int64>
        static let busy: Int64 = -1

        init(number: Int, channel: any Channel, now: NIODeadline) {
            self.number = number
            self.channel = channel
            idleSince = Atomic(Int64(clamping: now.uptimeNanoseconds))
        }

        /// A message has started arriving: the connection must not be closed for room.
        public func markBusy() {
            idleSince.store(Self.busy, ordering: .relaxed)
        }

        /// The last message has been read whole at `now`.
        public func markIdle(since now: NIODeadline) {
            idleSince.store(Int64(clamping: now.uptimeNanoseconds), ordering: .relaxed)
        }

        var idleSinceNanoseconds: Int64? {
            let value = idleSince.load(ordering: .relaxed)
            return value == Self.busy ? nil : value
        }
    }

    /// What the table has done, for metrics.
    public struct Counts: Sendable, Hashable {
        /// Connections admitted.
        public var admitted = 0
        /// Idle connections closed to make room for a new one.
        public var evicted = 0
        /// New connections closed because every open one was busy (or the listener was closing).
        public var refused = 0

        public init(admitted: Int = 0, evicted: Int = 0, refused: Int = 0) {
            self.admitted = admitted
            self.evicted = evicted
            self.refused = refused
        }
    }

    private struct State {
        var slots: [Int: Slot] = [:]
        var nextNumber = 0
        var closing = false
        var counts = Counts()
    }

    /// The most connections open at once.
    public let limit: Int
    private let state = Mutex(State())

    public init(limit: Int = DNSTCPConnections.defaultLimit) {
        precondition(limit > 0, "a TCP listener must allow at least one connection")
        self.limit = limit
    }

    /// Admits `channel`, closing the longest-idle connection first when the table is full.
    /// Returns nil, and closes nothing, when every open connection is busy or the listener is
    /// shutting down: the caller closes `channel`.
    public func admit(_ channel: any Channel, now: NIODeadline) -> Slot? {
        let (slot, victim) = state.withLock { state -> (Slot?, Slot?) in
            guard !state.closing else {
                state.counts.refused += 1
                return (nil, nil)
            }
            var victim: Slot?
            if state.slots.count >= limit {
                victim = Self.longestIdle(in: state.slots.values)
                guard let chosen = victim else {
                    state.counts.refused += 1
                    return (nil, nil)
                }
                // Out of the table now, so the count never exceeds the limit while its
                // channel closes on its own loop.
                state.slots[chosen.number] = nil
                state.counts.evicted += 1
            }
            let slot = Slot(number: state.nextNumber, channel: channel, now: now)
            state.nextNumber += 1
            state.slots[slot.number] = slot
            state.counts.admitted += 1
            return (slot, victim)
        }
        // Outside the lock: close hops to the victim's own event loop.
        victim?.channel.close(promise: nil)
        return slot
    }

    /// Forgets a connection that closed. Safe to call twice, or for an evicted slot.
    public func release(_ slot: Slot) {
        state.withLock { state in
            if state.slots[slot.number] === slot { state.slots[slot.number] = nil }
        }
    }

    /// Refuses every later connection and closes every open one; returns their close futures,
    /// so a shutdown can wait until each has answered what it read and stopped.
    public func closeAll() -> [EventLoopFuture<Void>] {
        let open = state.withLock { state in
            state.closing = true
            return Array(state.slots.values)
        }
        for slot in open { slot.channel.close(promise: nil) }
        return open.map { $0.channel.closeFuture }
    }

    /// Connections open now.
    public var count: Int { state.withLock { $0.slots.count } }

    public var counts: Counts { state.withLock { $0.counts } }

    /// The idle slot idle since the earliest instant (earliest admitted among equals), or nil
    /// when all are busy.
    static func longestIdle(in slots: some Sequence<Slot>) -> Slot? {
        var best: (slot: Slot, since: Int64)?
        for slot in slots {
            guard let since = slot.idleSinceNanoseconds else { continue }
            if let current = best, (current.since, current.slot.number) <= (since, slot.number) { continue }
            best = (slot, since)
        }
        return best?.slot
    }
}
