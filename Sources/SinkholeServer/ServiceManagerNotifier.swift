import CSinkholeSocket
import Logging
import SinkholeCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Sends `SystemdNotification`s to the service manager (systemd) that started the sinkhole, at
/// the socket it named in `NOTIFY_SOCKET`; what sd_notify(3) does, without libsystemd.
///
/// Exists only when systemd asked for notifications (`Type=notify`): without `NOTIFY_SOCKET`,
/// or with it empty, there is nothing to tell and no notifier. A datagram systemd does not
/// take is logged once (and once more when one gets through again), never retried: the next
/// status or ping says the same thing newer.
public final class ServiceManagerNotifier: Sendable {
    /// Where systemd listens: a filesystem path, or a name in the abstract namespace
    /// (`NOTIFY_SOCKET=@name`).
    enum Socket: Sendable, Equatable, CustomStringConvertible {
        case path(String)
        case abstract(String)

        /// As `NOTIFY_SOCKET` names it.
        var description: String {
            switch self {
            case .path(let path): path
            case .abstract(let name): "@" + name
            }
        }

        /// The socket `NOTIFY_SOCKET` names; nil for an empty value or one this sinkhole cannot
        /// reach (a relative path, `vsock:`, a name longer than `sockaddr_un` holds).
        init?(notifySocket value: String) {
            let maximum = Int(SINKHOLE_NOTIFY_NAME_MAX)
            if value.hasPrefix("/"), value.utf8.count <= maximum {
                self = .path(value)
            } else if value.hasPrefix("@"), value.utf8.count >= 2, value.utf8.count - 1 <= maximum {
                self = .abstract(String(value.dropFirst()))
            } else {
                return nil
            }
        }
    }

    let socket: Socket
    /// `WATCHDOG_USEC`: the longest systemd waits between two pings before it restarts the
    /// sinkhole; nil when no watchdog is asked for, or it is meant for another process
    /// (`WATCHDOG_PID` names another PID: a wrapper script, say).
    public let watchdogInterval: Duration?
    let logger: Logger
    private let failing = Atomic<Bool>(false)

    /// The notifier systemd asked for in `environment`, nil when it asked for none. A
    /// `NOTIFY_SOCKET` that cannot be used is logged and also gives nil: the sinkhole still
    /// serves, and systemd times the start out, which names the problem where it is seen.
    public init?(environment: [String: String], pid: Int32 = getpid(), logger: Logger) {
        guard let value = environment["NOTIFY_SOCKET"], !value.isEmpty else { return nil }
        guard let socket = Socket(notifySocket: value) else {
            logger.error("NOTIFY_SOCKET is not a socket the sinkhole can reach; systemd will not hear from it",
                         metadata: ["notify.socket": "\(value)"])
            return nil
        }
        self.socket = socket
        self.logger = logger
        watchdogInterval = Self.watchdogInterval(environment, pid: pid)
    }

    /// `WATCHDOG_USEC` as a duration when it is set, positive, and (with `WATCHDOG_PID` set)
    /// meant for `pid`.
    static func watchdogInterval(_ environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
              microseconds <= UInt64(Int64.max) else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
            guard let owner = Int32(owner), owner == pid else { return nil }
        }
        return .microseconds(Int64(microseconds))
    }

    /// Sends `notifications` in one datagram (assignments in one datagram are taken together).
    /// Returns whether systemd's socket took it.
    @discardableResult
    public func send(_ notifications: [SystemdNotification]) -> Bool {
        let message = SystemdNotification.datagram(notifications)
        let result: Int32
        switch socket {
        case .path(let path):
            result = sinkhole_notify_send(0, path, path.utf8.count, message, message.count)
        case .abstract(let name):
            result = sinkhole_notify_send(1, name, name.utf8.count, message, message.count)
        }
        let sent = result == 0
        // Relaxed: the flag only decides whether to log; it publishes nothing.
        if failing.exchange(!sent, ordering: .relaxed) != !sent {
            if sent {
                logger.notice("systemd notification socket takes notifications again")
            } else {
                logger.warning("cannot notify systemd; status and watchdog pings are lost until it works again",
                               metadata: ["notify.socket": "\(socket)", "error": "\(String(cString: strerror(-result)))"])
            }
        }
        return sent
    }

    /// Sends `STATUS=text`.
    public func status(_ text: String) {
        send([.status(text)])
    }

    /// CLOCK_MONOTONIC in microseconds, for `MONOTONIC_USEC`.
    static func monotonicMicroseconds() -> UInt64 { Heartbeat.now() / 1_000 }
}
