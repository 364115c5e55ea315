import ServiceLifecycle
import UnixSignals

/// Calls `reload` on every SIGHUP until the group shuts down: how an operator (or
/// `systemctl reload`) puts edited domain lists in force without a restart.
struct ReloadService: Service {
    let reload: @Sendable () -> Void

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            reload()
        }
    }
}
