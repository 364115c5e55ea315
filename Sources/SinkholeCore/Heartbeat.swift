#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// When a thread last went round its loop: stamped by the thread that does the work (the
/// writer, a UDP worker, the capture thread, an event loop's probe task), read by the watchdog,
/// which pings systemd only while every heartbeat is recent.
///
/// A heartbeat says "this thread is not stuck", not "this thread is busy": an idle worker
/// stamps it on every poll timeout. One atomic store of the monotonic clock per beat.
public final class Heartbeat: Sendable {
    public let name: String
    /// CLOCK_MONOTONIC nanoseconds of the last beat. Relaxed: it publishes nothing else, and a
    /// reader a beat late only sees the thread as a little older.
    private let last: Atomic<UInt64>

    /// Starts as if it had just beaten, so a thread that has not run its first loop yet (it is
    /// being started) is not taken for a stuck one.
    public init(name: String, now: UInt64 = Heartbeat.now()) {
        self.name = name
        last = Atomic(now)
    }

    /// Stamps the current time (the thread is making progress).
    public func beat() {
        last.store(Self.now(), ordering: .relaxed)
    }

    /// Stamps `time` (tests drive the clock).
    public func beat(at time: UInt64) {
        last.store(time, ordering: .relaxed)
    }

    /// CLOCK_MONOTONIC nanoseconds of the last beat.
    public var lastBeat: UInt64 { last.load(ordering: .relaxed) }

    /// CLOCK_MONOTONIC in nanoseconds: the clock systemd's MONOTONIC_USEC and watchdog use, which
    /// no wall-clock step moves.
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
