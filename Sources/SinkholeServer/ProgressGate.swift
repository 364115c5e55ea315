import SinkholeCore
import Synchronization

/// The watchdog's question: is every thread that records check-ins still going round its loop?
///
/// Each watched thread (the writer, every UDP worker, the live capture, a probe task on every
/// event loop) stamps a `Heartbeat`; the gate is open while none is older than `bound`. systemd
/// is pinged only through an open gate, so a writer hung in a store call, or an event loop
/// blocked by a handler, stops the pings and systemd restarts the sinkhole. A store that
/// *refuses* writes keeps the gate open: the writer goes on spilling and counting, and a
/// restart would only lose what it holds.
final class ProgressGate: Sendable {
    private let watched = Mutex<[Heartbeat]>([])

    init() {}

    /// A new heartbeat named `name`, watched from now on.
    func watch(_ name: String) -> Heartbeat {
        let heartbeat = Heartbeat(name: name)
        watch(heartbeat)
        return heartbeat
    }

    /// Watches a heartbeat its thread owns (the writer's, the capture's).
    func watch(_ heartbeat: Heartbeat) {
        watched.withLock { $0.append(heartbeat) }
    }

    /// The names watched, in the order they were added.
    var names: [String] { watched.withLock { $0.map(\.name) } }

    /// What has not beaten for longer than `bound` at `now` (CLOCK_MONOTONIC nanoseconds), the
    /// oldest first, with how long it has been silent; empty when the gate is open.
    func stalled(now: UInt64, bound: Duration) -> [Stall] {
        let limit = Self.nanoseconds(bound)
        return ages(now: now).filter { $0.silentNanoseconds > limit }.sorted { $0.silentNanoseconds > $1.silentNanoseconds }
    }

    /// How long each watched thread has been silent at `now`, in the order they were added.
    func ages(now: UInt64) -> [Stall] {
        // A beat stamped after `now` was read (another thread, a moment later) is fresh.
        watched.withLock { $0 }.map { Stall(name: $0.name, silentNanoseconds: now > $0.lastBeat ? now - $0.lastBeat : 0) }
    }

    /// A thread that stopped beating, and for how long it has been silent.
    struct Stall: Sendable, Equatable, CustomStringConvertible {
        let name: String
        let silentNanoseconds: UInt64

        /// "writer (12.3 s)".
        var description: String {
            let tenths = silentNanoseconds / 100_000_000
            return "\(name) (\(tenths / 10).\(tenths % 10) s)"
        }
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
