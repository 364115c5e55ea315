import Logging
import NIOCore
import ServiceLifecycle
import SinkholeCore
import Synchronization

/// What systemd hears from a run: `READY=1` once every listener is bound (`ready()`, called by
/// the ready barrier), a `STATUS=` line of live counts whenever it changes (looked at every
/// `statusInterval`), `WATCHDOG=1` every half `WATCHDOG_USEC` while the `ProgressGate` is
/// open, and `STOPPING=1` when graceful shutdown begins. SIGHUP's `RELOADING=1`, then `READY=1`,
/// are `ReloadService`'s, around the reload itself.
///
/// Last in the service group, so it is the first to hear of the shutdown: `STOPPING=1` goes
/// out before any listener closes. systemd stops watching the watchdog once told, so the pings
/// stop there too.
///
/// The gate closes when a watched thread has not gone round its loop for `stallBound` (a whole
/// watchdog interval, at least a second): the pings stop, systemd restarts the sinkhole one
/// interval later. The stuck threads are logged once, by name, and again when they recover,
/// and the pings resume.
final class ServiceManagerService: Service, Sendable {
    let notifier: ServiceManagerNotifier
    let progress: ProgressGate
    /// Every event loop gets a probe task that stamps a heartbeat: a loop blocked by a handler
    /// (or a flood it cannot get through) leaves it old.
    private let probed: [(loop: any EventLoop, heartbeat: Heartbeat)]
    let logger: Logger
    /// The live counts for `STATUS=`.
    let status: @Sendable () -> String
    /// How often the live counts are looked at (and sent, when they changed).
    let statusInterval: Duration

    private struct State {
        var ready = false
        var stalls: [ProgressGate.Stall] = []
        var lastStatus: String?
    }

    private let state = Mutex(State())

    init(notifier: ServiceManagerNotifier, progress: ProgressGate, loops: [any EventLoop], logger: Logger,
         statusInterval: Duration = .seconds(5), status: @escaping @Sendable () -> String) {
        self.notifier = notifier
        self.statusInterval = statusInterval
        self.progress = progress
        probed = loops.enumerated().map { index, loop in (loop, progress.watch("eventloop-\(index)")) }
        self.logger = logger
        self.status = status
    }

    /// How often each event loop's probe task stamps its heartbeat.
    static let probeInterval = TimeAmount.milliseconds(250)

    /// How long a watched thread may be silent before it counts as stuck: the watchdog
    /// interval itself, so a thread is given as long as systemd gives the whole process; at
    /// least a second, four times the longest any watched thread goes between beats (the
    /// event loop probes').
    var stallBound: Duration? { Self.stallBound(watchdog: notifier.watchdogInterval) }

    static func stallBound(watchdog interval: Duration?) -> Duration? {
        interval.map { max($0, .seconds(1)) }
    }

    /// Every listener is bound, capture is open and the store took the run: `READY=1` and the
    /// first status. The watchdog pings from now on.
    func ready() {
        let line = statusLine()
        state.withLock {
            $0.ready = true
            $0.lastStatus = line
        }
        notifier.send([.ready, .status(line)])
        if let interval = notifier.watchdogInterval, let bound = stallBound {
            logger.info("watchdog on", metadata: ["watchdog.interval": "\(interval)", "watchdog.stall_bound": "\(bound)",
                                                  "watchdog.watched": "\(progress.names.joined(separator: ", "))"])
        }
    }

    func run() async throws {
        let probes = probed.map { loop, heartbeat in
            loop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.probeInterval) { _ in heartbeat.beat() }
        }
        let clock = ContinuousClock()
        let pingInterval = notifier.watchdogInterval.map { $0 / 2 }
        var nextStatus = clock.now + statusInterval
        var nextPing = pingInterval.map { clock.now + $0 }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let wake = nextPing.map { min($0, nextStatus) } ?? nextStatus
            let slept: Void? = try? await cancelWhenGracefulShutdown {
                try await Task.sleep(until: wake, clock: clock)
            }
            guard slept != nil, !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let now = clock.now
            // From now, not from the last deadline: a starved task pings late, never in a burst.
            if let ping = nextPing, let pingInterval, now >= ping {
                watchdogTick()
                nextPing = now + pingInterval
            }
            if now >= nextStatus {
                statusTick()
                nextStatus = now + statusInterval
            }
        }
        for probe in probes { probe.cancel() }
        notifier.send([.stopping, .status("stopping: closing the listeners, then storing what the rings hold")])
    }

    /// One watchdog turn at `now` (CLOCK_MONOTONIC nanoseconds): `WATCHDOG=1` when the run is
    /// ready and nothing watched is stuck. A change in what is stuck is logged. Returns whether
    /// it pinged.
    @discardableResult
    func watchdogTick(now: UInt64 = Heartbeat.now()) -> Bool {
        guard let bound = stallBound else { return false }
        let stalls = progress.stalled(now: now, bound: bound)
        let (ready, previous) = state.withLock { state in
            defer { state.stalls = stalls }
            return (state.ready, state.stalls)
        }
        if stalls.map(\.name) != previous.map(\.name) {
            if stalls.isEmpty {
                logger.notice("progress again; watchdog pings resume")
            } else {
                logger.error("no progress; watchdog pings withheld, so systemd restarts the sinkhole if it lasts",
                             metadata: ["stalled": "\(stalls.map(\.description).joined(separator: ", "))",
                                        "watchdog.stall_bound": "\(bound)"])
            }
        }
        guard ready, stalls.isEmpty else { return false }
        return notifier.send([.watchdog])
    }

    /// Sends the status line when it changed since the last one sent.
    func statusTick() {
        let line = statusLine()
        let changed = state.withLock { state in
            guard state.ready, state.lastStatus != line else { return false }
            state.lastStatus = line
            return true
        }
        if changed { notifier.status(line) }
    }

    /// The live counts, and what is stuck while something is.
    private func statusLine() -> String {
        let stalls = state.withLock { $0.stalls }
        let line = status()
        return stalls.isEmpty ? line : line + "; no progress: " + stalls.map(\.name).joined(separator: ", ")
    }
}
