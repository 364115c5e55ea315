import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// systemd's end of the notification protocol, as a test holds it: an AF_UNIX datagram socket
/// (a path in a temporary directory, or an abstract name) whose every datagram is kept with
/// its arrival time, read on a thread of its own until `stop()`.
final class NotifySocketReceiver: Sendable {
    /// One datagram as it arrived.
    struct Message: Sendable {
        let arrived: ContinuousClock.Instant
        let text: String

        /// The datagram's assignments, in order.
        var assignments: [String] { text.split(separator: "\n").map(String.init) }
        func has(_ assignment: String) -> Bool { assignments.contains(assignment) }
        /// The value of `key` when the datagram assigns it.
        func value(_ key: String) -> String? {
            assignments.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
    }

    /// What to put in `NOTIFY_SOCKET`: the path, or `@name`.
    let notifySocket: String
    private let fd: Int32
    private let received = Mutex<[Message]>([])
    private let stopped = Atomic<Bool>(false)

    /// A socket at `path`, or, with `abstract`, the abstract name `abstract`.
    init(path: String? = nil, abstract: String? = nil) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CancellationError() }
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array((path ?? abstract ?? "").utf8)
        let offset = path == nil ? 1 : 0  // an abstract name follows a NUL
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in name.enumerated() { bytes[offset + index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + offset + name.count + (path == nil ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            Issue.record("cannot bind the notify socket \(path ?? "@" + (abstract ?? "")): errno \(errno)")
            Glibc.close(fd)
            throw CancellationError()
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        notifySocket = path ?? "@" + (abstract ?? "")
        let thread = Thread { [self] in receive() }
        thread.start()
    }

    /// Stops reading; the socket closes once the reading thread sees it (within 100 ms). The
    /// thread holds the receiver until then: every test stops its receiver.
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Every datagram so far, in arrival order.
    var messages: [Message] { received.withLock { $0 } }

    /// Waits (bounded) for a datagram after the first `after` that `matches`; returns its index.
    func waitFor(after: Int = 0, timeout: Duration = .seconds(30), _ matches: (Message) -> Bool) -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let all = messages
            if after < all.count, let index = all[after...].firstIndex(where: matches) { return index }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    /// `waitFor` for async tests: it sleeps the task, not the thread, so the cooperative pool
    /// stays free for the service under test.
    func arrival(after: Int = 0, timeout: Duration = .seconds(30), _ matches: (Message) -> Bool) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let all = messages
            if after < all.count, let index = all[after...].firstIndex(where: matches) { return index }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .relaxed) {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got >= 0 else { continue }  // the timeout: look at the stop flag
            let message = Message(arrived: .now, text: String(decoding: buffer[..<got], as: UTF8.self))
            received.withLock { $0.append(message) }
        }
        Glibc.close(fd)
    }
}
