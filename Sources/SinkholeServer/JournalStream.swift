import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The journal stream systemd connected a service's output to, as `JOURNAL_STREAM` names it:
/// `device:inode` of the socket, both decimal (systemd.exec(5)).
///
/// The variable is inherited, so its presence alone says nothing about this process's standard
/// error: a shell started from a unit with `2>file`, or a test run under a user session, has it
/// too. Only a descriptor whose device and inode are the stream's is the journal.
public struct JournalStream: Sendable, Equatable {
    let device: UInt64
    let inode: UInt64

    /// Nil when `value` is not two decimal numbers separated by a colon.
    init?(_ value: String) {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        self.device = device
        self.inode = inode
    }

    /// Whether `descriptor` is this stream (fstat: same device and inode).
    func isConnected(to descriptor: Int32) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    /// Whether standard error goes to the journal: `JOURNAL_STREAM` in `environment` names
    /// the stream descriptor 2 is connected to.
    public static func carriesStandardError(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"], let stream = JournalStream(value) else { return false }
        return stream.isConnected(to: STDERR_FILENO)
    }

    /// The log handler for standard error: `JournalLogHandler` when it goes to the journal,
    /// swift-log's `StreamLogHandler` (with its timestamps) otherwise.
    public static func standardErrorHandler(label: String, level: Logger.Level, journal: Bool) -> any LogHandler {
        if journal {
            var handler = JournalLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
