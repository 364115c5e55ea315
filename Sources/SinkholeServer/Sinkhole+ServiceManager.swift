import NIOCore
import SinkholeCapture
import SinkholeCore
import SinkholeStore

extension Sinkhole {
    /// The run's systemd side, when systemd asked for notifications (nil otherwise): the service
    /// that reports to systemd, pinging through `progress` (which `run` made watching the
    /// writer, the live capture and, through their services, the UDP workers; the service adds
    /// the event loops).
    /// Called once the listeners are bound, capture is open and the store has taken the run, as
    /// the services are about to start, which is what the status then says.
    func makeServiceManagerService(_ notifier: ServiceManagerNotifier?, progress: ProgressGate, writer: Writer,
                                   registry: EventRings<CheckIn>, loops: [any EventLoop],
                                   live: LiveResponder) -> ServiceManagerService? {
        guard let notifier else { return nil }
        notifier.status("starting the services")
        return ServiceManagerService(notifier: notifier, progress: progress, loops: loops, logger: logger) {
            Self.statusLine(seizedNames: live.current().responder.zones.count, committed: writer.committedCounters,
                            inRings: registry.totals.inFlight)
        }
    }

    /// The `STATUS=` line while serving: what `systemctl status` shows an operator at a glance.
    static func statusLine(seizedNames: Int, committed: RunCounters, inRings: Int) -> String {
        "serving \(seizedNames) seized names; check-ins: \(committed.stored) stored, \(committed.dropped) dropped, \(inRings) in the rings"
    }
}
