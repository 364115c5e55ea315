import Foundation
import Logging

extension Sinkhole {
    /// The listeners this run binds and the sockets it adopts from systemd (LISTEN_FDS). The
    /// variables are removed from the environment once read, as sd_listen_fds(unset=1) does,
    /// so nothing the sinkhole starts mistakes the sockets for its own.
    func listenerPlan() throws -> ListenerPlan {
        var available: Set<ListenerRole> = [.dns, .http, .catchAll]
        if tlsCertificates != nil { available.insert(.tls) }
        if feedSetup != nil { available.insert(.feeds) }
        if configuration.metrics.listen != nil { available.insert(.metrics) }
        let configured = configuration.configuredListeners(tlsOn: tlsCertificates != nil, feedsOn: feedSetup != nil)
        let handover = try SocketActivation.handover(environment: ProcessInfo.processInfo.environment, pid: getpid())
        for name in SocketActivation.variables { unsetenv(name) }
        switch handover {
        case .none:
            return ListenerPlan(binding: configured)
        case .forAnotherProcess(let listenPID):
            logger.warning("LISTEN_FDS is for another process; binding the configured listeners",
                           metadata: ["LISTEN_PID": "\(listenPID)", "pid": "\(getpid())"])
            return ListenerPlan(binding: configured)
        case .sockets(let descriptors):
            var passed: [PassedSocket] = []
            for descriptor in descriptors {
                passed.append(try ListenSocketCalls.describe(descriptor.descriptor, name: descriptor.name))
            }
            let plan = try ListenerPlan(configured: configured, passed: passed, available: available)
            logger.notice("socket activation: adopting the sockets systemd passed", metadata: [
                "sockets.passed": "\(passed.map(\.description))",
                "listeners.bound_here": "\(plan.toBind.map(\.description))",
            ])
            return plan
        }
    }
}
