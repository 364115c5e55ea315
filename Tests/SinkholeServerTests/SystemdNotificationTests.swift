@testable import SinkholeServer
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The notification protocol's two halves: the datagram's text (pure), and the notifier that
/// reads systemd's environment and sends it to a real AF_UNIX socket the test binds.
@Suite("Notifying systemd (sd_notify without libsystemd)")
struct SystemdNotificationTests {
    @Test("notifications are newline-separated assignments in one datagram, in order", arguments: [
        ([SystemdNotification.ready], "READY=1"),
        ([.ready, .status("serving 3 seized names")], "READY=1\nSTATUS=serving 3 seized names"),
        ([.reloading(monotonicMicroseconds: 1_234_567), .status("reloading")], "RELOADING=1\nMONOTONIC_USEC=1234567\nSTATUS=reloading"),
        ([.stopping, .status("stopping")], "STOPPING=1\nSTATUS=stopping"),
        ([.watchdog], "WATCHDOG=1"),
    ])
    func datagrams(notifications: [SystemdNotification], text: String) {
        #expect(SystemdNotification.datagram(notifications) == Array(text.utf8))
    }

    @Test("a status line cannot end its assignment early: line breaks (CRLF as one) and NUL become spaces, so quoted text never poses as READY=1")
    func statusStaysOneAssignment() {
        let datagram = SystemdNotification.datagram([.status("reload failed: bad.txt\nREADY=1\r\nSTOPPING=1\0x")])
        #expect(String(decoding: datagram, as: UTF8.self) == "STATUS=reload failed: bad.txt READY=1 STOPPING=1 x")
        #expect(!datagram.contains(0x0A) && !datagram.contains(0))
    }

    @Test("a long status is cut at 480 bytes on a character boundary")
    func longStatusIsCut() {
        let line = SystemdNotification.statusLine(String(repeating: "é", count: 300))  // 2 bytes each
        #expect(line.utf8.count == 480 && line == String(repeating: "é", count: 240))
        #expect(SystemdNotification.statusLine("short") == "short")
    }

    @Test("NOTIFY_SOCKET names a path or an abstract socket; anything else is not reachable", arguments: [
        ("/run/systemd/notify", ServiceManagerNotifier.Socket.path("/run/systemd/notify")),
        ("@/org/freedesktop/systemd1/notify/123", .abstract("/org/freedesktop/systemd1/notify/123")),
        ("@", nil), ("relative/notify", nil), ("vsock:2:4242", nil),
        ("/" + String(repeating: "a", count: 107), nil), ("@" + String(repeating: "a", count: 107), .abstract(String(repeating: "a", count: 107))),
    ])
    func socketNames(value: String, socket: ServiceManagerNotifier.Socket?) {
        #expect(ServiceManagerNotifier.Socket(notifySocket: value) == socket)
    }

    @Test("without NOTIFY_SOCKET, or with it empty or unreachable, there is no notifier")
    func noNotifier() {
        let log = CollectedLog()
        let logger = log.logger
        #expect(ServiceManagerNotifier(environment: [:], logger: logger) == nil)
        #expect(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "", "WATCHDOG_USEC": "2000000"], logger: logger) == nil)
        #expect(log.lines.isEmpty, "unset or empty is not a problem")
        #expect(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:4242"], logger: logger) == nil)
        #expect(log.lines.count == 1 && log.lines[0].hasPrefix("<3>") && log.lines[0].contains("notify.socket=vsock:2:4242"))
    }

    @Test("WATCHDOG_USEC is the interval when positive and, with WATCHDOG_PID, meant for this process", arguments: [
        (["WATCHDOG_USEC": "2000000"], Duration?.some(.seconds(2))),
        (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], .seconds(30)),
        (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"], nil),
        (["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"], nil),
        (["WATCHDOG_USEC": "0"], nil), (["WATCHDOG_USEC": "-5"], nil), (["WATCHDOG_USEC": "2s"], nil), ([:], nil),
    ])
    func watchdogInterval(environment: [String: String], interval: Duration?) {
        #expect(ServiceManagerNotifier.watchdogInterval(environment, pid: 4242) == interval)
    }

    @Test("the notifier's datagram reaches a socket at a path, and one in the abstract namespace, whole", arguments: [false, true])
    func sends(abstract: Bool) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = abstract ? try NotifySocketReceiver(abstract: "sinkhole-test-\(UUID().uuidString)")
                                : try NotifySocketReceiver(path: directory.appendingPathComponent("notify").path)
        defer { receiver.stop() }
        let logger = CollectedLog().logger
        let notifier = try #require(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": receiver.notifySocket], logger: logger))
        #expect(notifier.watchdogInterval == nil)
        #expect(notifier.send([.ready, .status("serving")]))
        notifier.status("second")
        let index = try #require(receiver.waitFor(timeout: .seconds(5)) { $0.text == "STATUS=second" })
        #expect(receiver.messages.map(\.text) == ["READY=1\nSTATUS=serving", "STATUS=second"] && index == 1)
    }

    @Test("a socket that takes nothing is logged once, and once more when notifications get through again")
    func failuresLoggedOnce() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("notify").path
        let log = CollectedLog()
        let logger = log.logger
        let notifier = try #require(ServiceManagerNotifier(environment: ["NOTIFY_SOCKET": path], logger: logger))
        #expect(!notifier.send([.watchdog]))
        #expect(!notifier.send([.watchdog]))
        #expect(log.lines.count == 1 && log.lines[0].hasPrefix("<4>") && log.lines[0].contains("No such file"))
        let receiver = try NotifySocketReceiver(path: path)
        defer { receiver.stop() }
        #expect(notifier.send([.watchdog]))
        #expect(notifier.send([.watchdog]))
        #expect(log.lines.count == 2 && log.lines[1].hasPrefix("<5>"), "\(log.lines)")
        #expect(receiver.waitFor(timeout: .seconds(5)) { _ in receiver.messages.count == 2 } != nil)
    }
}
