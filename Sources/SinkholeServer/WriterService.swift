import Logging
import ServiceLifecycle
import SinkholeStore

/// Runs the `Writer` for the lifetime of the service group. Listed first in the group, so it
/// starts first and stops last: by the time it is asked to stop every responder has closed,
/// and `stop()` drains what they left in the rings.
struct WriterService: Service {
    let writer: Writer
    let logger: Logger
    /// Receives the writer's final outcome (the command line turns lost events into an exit status).
    let onFinish: @Sendable (Writer.Outcome) -> Void

    func run() async throws {
        try writer.start()
        try? await gracefulShutdown()
        let outcome = await writer.stop()
        logger.info("writer stopped", metadata: [
            "events.offered": "\(outcome.counters.offered)",
            "events.stored": "\(outcome.counters.stored)",
            "events.dropped": "\(outcome.counters.dropped)",
            "events.lost": "\(outcome.lost)",
        ])
        onFinish(outcome)
    }
}
