/// One thing the sinkhole tells systemd, in the notification protocol of sd_notify(3): a
/// datagram of newline-separated `KEY=VALUE` assignments. Pure formatting; the sending is
/// `ServiceManagerNotifier`'s.
public enum SystemdNotification: Sendable, Equatable {
    /// `READY=1`: every listener is bound, capture is open, the store took the run; also sent
    /// when a reload is done.
    case ready
    /// `RELOADING=1` with `MONOTONIC_USEC`: a SIGHUP reload begins. systemd (253 and later, for
    /// `Type=notify-reload`) pairs the time with the signal it sent.
    case reloading(monotonicMicroseconds: UInt64)
    /// `STOPPING=1`: graceful shutdown has begun.
    case stopping
    /// `STATUS=`: one line for `systemctl status`.
    case status(String)
    /// `WATCHDOG=1`: the sinkhole is making progress.
    case watchdog

    /// The longest STATUS text sent, in UTF-8 bytes: systemd reads a notification into a
    /// buffer of a few KiB and a status line is read by a person.
    static let statusBytes = 480

    /// The assignments this notification stands for, in order.
    var assignments: [String] {
        switch self {
        case .ready: ["READY=1"]
        case .reloading(let microseconds): ["RELOADING=1", "MONOTONIC_USEC=\(microseconds)"]
        case .stopping: ["STOPPING=1"]
        case .status(let text): ["STATUS=\(Self.statusLine(text))"]
        case .watchdog: ["WATCHDOG=1"]
        }
    }

    /// The datagram carrying `notifications`, in order.
    static func datagram(_ notifications: [SystemdNotification]) -> [UInt8] {
        Array(notifications.flatMap(\.assignments).joined(separator: "\n").utf8)
    }

    /// `text` as one safe STATUS value: a newline would end the assignment and let the rest of
    /// the text (an error message quoting a file, say) pose as another one (`READY=1`), and
    /// systemd drops a whole datagram holding a NUL; each becomes a space. Cut at
    /// `statusBytes`, on a character boundary.
    static func statusLine(_ text: String) -> String {
        var line = ""
        var bytes = 0
        for character in text {
            let safe: Character = character.unicodeScalars.contains { $0 == "\n" || $0 == "\r" || $0 == "\0" } ? " " : character
            bytes += safe.utf8.count
            if bytes > statusBytes { break }
            line.append(safe)
        }
        return line
    }
}
