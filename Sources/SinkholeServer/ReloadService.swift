import ServiceLifecycle
import SinkholeCore
import UnixSignals

/// Reloads the seized names on every SIGHUP (how an operator, or `systemctl reload`, puts
/// edited lists in force without a restart) and, when a family has per-day lists, just after
/// each UTC midnight, so the new day's DGA names are answered from their first second and the
/// day before yesterday's are dropped.
///
/// Under systemd a SIGHUP reload is announced: `RELOADING=1` (with the monotonic time, as
/// `Type=notify-reload` wants) before, `READY=1` and a status saying how it went after, so
/// `systemctl reload` returns when the new names are in force. The midnight roll is the
/// sinkhole's own business and is not announced.
struct ReloadService: Service {
    /// Reloads; returns what is in force now, or why the reload failed, in a line.
    let reload: @Sendable () -> String
    /// True when some family's domain list path is per-day (`%Y-%m-%d`).
    var rollsAtMidnight: Bool
    /// Told of every SIGHUP reload; nil when systemd asked for no notifications.
    var serviceManager: ServiceManagerNotifier?
    /// How long until the next roll; injected so tests need not wait for midnight.
    var untilNextRoll: @Sendable () -> Duration = { ReloadService.untilNextUTCMidnight(after: UTCTime.now()) }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                let hangups = await UnixSignalsSequence(trapping: .sighup)
                for await _ in hangups.cancelOnGracefulShutdown() {
                    serviceManager?.send([.reloading(monotonicMicroseconds: ServiceManagerNotifier.monotonicMicroseconds()),
                                          .status("reloading the seized names")])
                    let result = reload()
                    serviceManager?.send([.ready, .status(result)])
                }
            }
            if rollsAtMidnight {
                group.addTask {
                    // Re-reads the clock after every wake: a stepped clock only moves the next roll.
                    while !Task.isShuttingDownGracefully {
                        let slept: Void? = try? await cancelWhenGracefulShutdown {
                            try await Task.sleep(for: untilNextRoll())
                        }
                        guard slept != nil, !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
                        _ = reload()
                    }
                }
            }
        }
    }

    /// Time from `now` to one second past the next UTC midnight (the second lets a clock a
    /// little behind still land on the new day).
    static func untilNextUTCMidnight(after now: UTCTime) -> Duration {
        let next = now.dayStart.microseconds + 86_400_000_000 + 1_000_000
        return .microseconds(next - now.microseconds)
    }
}
