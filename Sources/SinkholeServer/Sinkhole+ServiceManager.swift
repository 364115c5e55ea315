import NIOCore
import SinkholeCapture
import SinkholeCore
import SinkholeStore

extension Sinkhole {
    /// The run's systemd side, when systemd asked for notifications (nil otherwise): a progress
    /// gate watching the writer and the live capture (`run` adds the UDP workers through their
    /// services, the service itself the event loops), and the service that reports to systemd.
    /// Called once capture is open and the store has taken the run, as the listeners are about
    /// to bind, which is what the status then says.
    func makeServiceManagerService(_ notifier: ServiceManagerNotifier?, writer: Writer, registry: EventRings<CheckIn>,
                                   loops: [any EventLoop], live: LiveResponder,
                                   capture: CaptureService?) -> ServiceManagerService? {
        guard let notifier else { return nil }
        let progress = ProgressGate()
        progress.watch(writer.heartbeat)
        // A capture file's thread ends with the file: only a live capture is watched.
        if case .live(let liveCapture) = capture?.source { progress.watch(liveCapture.heartbeat) }
        notifier.status("binding the listeners")
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
