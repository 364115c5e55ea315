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
        /// losing something (a bot's retry, a kernel drop). The process's own priority.
        case producing
        /// Stores what the rings hold: work the rings exist to let wait. It runs
        /// `storingNiceIncrement` nice levels below the process (at most 19), so on a core it
        /// shares with busy producers it gets about a tenth of it (CFS weights 110 against
        /// 1024) instead of half: a burst fills the rings instead of overflowing the kernel's
        /// capture buffer, and the writer catches up once the burst is over. The price is paid
        /// under sustained overload of a shared core: storing goes slower, so more events are
        /// dropped (counted) at the rings. Responders give the core back themselves, sleeping
        /// while their ring is full; the capture thread never waits, it drops.
        ///
        /// Linux gives a thread's nice value to every thread it creates, so a task a storing
        /// thread starts could get a pool thread at its priority: the PostgreSQL store starts
        /// its tasks on or from its event loops. (The writer resumes one task itself, the
        /// shutdown's, when it has stopped.)
        case storing
    }

    /// How many nice levels `.storing` threads add to the process's. A thread may always lower
    /// its own priority; raising it back would need CAP_SYS_NICE, which is why it never is.
    public static let storingNiceIncrement: Int32 = 10

    /// Starts `body` on a new thread named `name` (cut to the kernel's 15 bytes).
    /// `priorityRefused` is called on the new thread, with errno, when a `.storing` thread's
    /// priority could not be lowered (a seccomp filter without setpriority): the thread runs
    /// anyway, level with the producers.
    public static func start(name: String, priority: Priority = .producing,
                             priorityRefused: @escaping @Sendable (Int32) -> Void = { _ in },
                             _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            if let error = adopt(name: name, priority: priority) { priorityRefused(error) }
            body()
        }
        thread.name = name
        thread.start()
    }

    /// Names the calling thread and sets its priority; returns errno when the priority could
    /// not be set. A failed name is ignored: it is for the operator's eyes only.
    static func adopt(name: String, priority: Priority) -> Int32? {
        #if os(Linux)
        // Glibc's Swift module leaves out the GNU calls (pthread_setname_np, gettid): the
        // kernel's own file for the calling thread's name does the same.
        try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
        guard priority == .storing else { return nil }
        // Who 0 is the calling thread: Linux keeps nice values per thread. A new thread
        // starts at its creator's value, which is the process's for threads started here.
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        // -1 is a nice value as well as the error return: only errno tells them apart.
        errno = 0
        let current = getpriority(which, 0)
        if current == -1, errno != 0 { return errno }
        let lowered = min(current + storingNiceIncrement, 19)
        guard lowered != current else { return nil }
        return setpriority(which, 0, lowered) == 0 ? nil : errno
        #else
        return nil
        #endif
    }
}
