#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Starts the sinkhole's own threads (writer, commit, UDP workers, capture, file readers): the
/// one way to do it, so each gets a name the kernel shows and the priority of its kind of work.
///
/// Foundation's `Thread.name` does not reach the kernel on Linux: `top -H`, `ps -L` and
/// /proc/PID/task/*/comm showed these threads under a dispatch queue's name, and an operator
/// could not tell a busy writer from a busy capture.
public enum SinkholeThread {
    public enum Priority: Sendable {
        /// Answers bots or drains the kernel's capture buffer: work that cannot wait without
        /// losing something (a bot's retry, a kernel drop).
        case producing
        /// Stores what the rings hold: work the rings exist to let wait. On a core shared with
        /// producers it yields to them (nice 10 against their 0: about a tenth of the core while
        /// they are busy), so a burst fills the rings instead of overflowing the kernel's
        /// capture buffer, and the writer catches up when the burst is over. It is never
        /// starved: a producer facing a full ring sleeps, and a capture thread with nothing to
        /// read waits in poll.
        case storing
    }

    /// Nice value of `.storing` threads. A thread may always lower its own priority; raising
    /// it back would need CAP_SYS_NICE, which is why it is never done.
    public static let storingNice: Int32 = 10

    /// Starts `body` on a new thread named `name` (cut to the kernel's 15 bytes).
    public static func start(name: String, priority: Priority = .producing,
                             _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            adopt(name: name, priority: priority)
            body()
        }
        thread.name = name
        thread.start()
    }

    /// Names the calling thread and sets its priority; failures are ignored (a name or a nice
    /// value is for the operator's eyes and the scheduler, never needed to work correctly).
    static func adopt(name: String, priority: Priority) {
        #if os(Linux)
        // Glibc's Swift module leaves out the GNU calls (pthread_setname_np, gettid): the
        // kernel's own file for the calling thread's name does the same.
        try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
        if priority == .storing {
            // Who 0 is the calling thread: Linux keeps nice values per thread.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, storingNice)
        }
        #endif
    }

    /// The calling thread's kernel name and nice value (tests check what `start` set).
    public static func currentNameAndNice() -> (name: String, nice: Int32) {
        #if os(Linux)
        let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return (comm.trimmingCharacters(in: .newlines), nice)
        #else
        return ("", 0)
        #endif
    }
}
