@testable import SinkholeServer
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceLifecycleTestKit
import SinkholeCore
import SinkholeDNS
import Testing

/// The watchdog's progress gate and the service that talks to systemd, against a real notify
/// socket: heartbeats driven by hand with an injected clock, then the running service with a
/// real event loop and a real UDP worker.
@Suite("The watchdog's progress gate", .serialized)
struct ServiceManagerServiceTests {
    static let second: UInt64 = 1_000_000_000

    @Test("the gate is open while every heartbeat is younger than the bound; the stalled ones come oldest first, with their silence")
    func gate() {
        let gate = ProgressGate()
        let start = Heartbeat.now()
        let writer = Heartbeat(name: "writer", now: start)
        gate.watch(writer)
        let worker = gate.watch("dns-udp-0")
        worker.beat(at: start + Self.second / 2)
        #expect(gate.names == ["writer", "dns-udp-0"])
        #expect(gate.stalled(now: start + Self.second, bound: .seconds(1)).isEmpty, "exactly the bound is not over it")
        #expect(gate.stalled(now: start + Self.second + 1, bound: .seconds(1)).map(\.name) == ["writer"])
        let both = gate.stalled(now: start + 2 * Self.second, bound: .seconds(1))
        #expect(both.map(\.description) == ["writer (2.0 s)", "dns-udp-0 (1.5 s)"])
        // A beat read after `now` was taken is fresh, not 584 years old.
        writer.beat(at: start + 3 * Self.second)
        #expect(gate.stalled(now: start + 2 * Self.second, bound: .seconds(1)).map(\.name) == ["dns-udp-0"])
    }

    /// A service reporting to `receiver`, with a watchdog of `watchdogUSEC`.
    static func service(_ receiver: NotifySocketReceiver, watchdogUSEC: Int, loops: [any EventLoop] = [],
                        log: CollectedLog) throws -> ServiceManagerService {
        let notifier = try #require(ServiceManagerNotifier(
            environment: ["NOTIFY_SOCKET": receiver.notifySocket, "WATCHDOG_USEC": "\(watchdogUSEC)"], logger: log.logger))
        return ServiceManagerService(notifier: notifier, progress: ProgressGate(), loops: loops, logger: log.logger,
                                     statusInterval: .milliseconds(50)) { "serving 1 seized names" }
    }

    @Test("pings only once ready and only through an open gate; a stall is logged once by name, the recovery once, and the pings resume")
    func ticks() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = try NotifySocketReceiver(path: directory.appendingPathComponent("notify").path)
        defer { receiver.stop() }
        let log = CollectedLog()
        let service = try Self.service(receiver, watchdogUSEC: 2_000_000, log: log)
        #expect(service.stallBound == .seconds(2))
        let start = Heartbeat.now()
        let writer = Heartbeat(name: "writer", now: start)
        service.progress.watch(writer)

        #expect(!service.watchdogTick(now: start + Self.second), "not ready: no ping")
        service.ready()
        #expect(service.watchdogTick(now: start + Self.second))
        #expect(!service.watchdogTick(now: start + 3 * Self.second), "silent for 3 s, over the 2 s bound")
        #expect(!service.watchdogTick(now: start + 4 * Self.second))
        writer.beat(at: start + 4 * Self.second)
        #expect(service.watchdogTick(now: start + 5 * Self.second))

        #expect(receiver.waitFor(timeout: .seconds(5)) { _ in receiver.messages.count == 3 } != nil)
        #expect(receiver.messages.map(\.text) == ["READY=1\nSTATUS=serving 1 seized names", "WATCHDOG=1", "WATCHDOG=1"])
        let lines = log.lines
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first?.hasPrefix("<6>info test: watchdog.interval=2.0 seconds watchdog.stall_bound=2.0 seconds watchdog.watched=writer [SinkholeServer] watchdog on") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("<3>error test: stalled=writer (3.0 s) watchdog.stall_bound=2.0 seconds") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("<5>notice test: [SinkholeServer] progress again") == true, "\(lines)")
    }

    @Test("the status is sent when it changes, and says what is stuck while something is")
    func statusLines() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = try NotifySocketReceiver(path: directory.appendingPathComponent("notify").path)
        defer { receiver.stop() }
        let log = CollectedLog()
        let service = try Self.service(receiver, watchdogUSEC: 1_000_000, log: log)
        let start = Heartbeat.now()
        service.progress.watch(Heartbeat(name: "writer", now: start))
        service.statusTick()  // not ready: nothing yet
        service.ready()
        service.statusTick()  // unchanged since READY
        service.watchdogTick(now: start + 2 * Self.second)
        service.statusTick()
        service.statusTick()
        #expect(receiver.waitFor(timeout: .seconds(5)) { _ in receiver.messages.count == 2 } != nil)
        Thread.sleep(forTimeInterval: 0.1)  // nothing more arrives
        #expect(receiver.messages.map(\.text) == ["READY=1\nSTATUS=serving 1 seized names",
                                                   "STATUS=serving 1 seized names; no progress: writer"])
    }

    @Test("running: event loop probes and a UDP worker's polls keep the pings coming every half interval; a blocked loop stops them until it runs again; STOPPING=1 at shutdown")
    func running() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = try NotifySocketReceiver(path: directory.appendingPathComponent("notify").path)
        defer { receiver.stop() }
        let log = CollectedLog()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await watchdogAgainstBlockedLoop(group: group, receiver: receiver, log: log)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    func watchdogAgainstBlockedLoop(group: MultiThreadedEventLoopGroup, receiver: NotifySocketReceiver,
                                    log: CollectedLog) async throws {
        // 400 ms: a ping every 200 ms, and the 1 s floor as the bound.
        let service = try Self.service(receiver, watchdogUSEC: 400_000, loops: Array(group.makeIterator()), log: log)
        let socket = try DNSUDPWorkerTests.socket("127.0.0.1")
        let worker = DNSUDPWorker(name: "dns-udp-0", sockets: [socket],
                                  ring: EventRing(name: "dns-udp-0", minimumCapacity: 16, filler: .blank),
                                  live: LiveResponder(try DNSUDPWorkerTests.responder()), rateLimit: DNSUDPWorkerTests.unlimited,
                                  progress: service.progress)
        worker.start()
        service.ready()
        func pings(after index: Int) -> Int { receiver.messages.dropFirst(index).filter { $0.has("WATCHDOG=1") }.count }

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await service.run() }
                // Idle, everything beats: pings at about 200 ms.
                #expect(await receiver.arrival(timeout: .seconds(10)) { _ in pings(after: 0) >= 5 } != nil)
                #expect(service.progress.names == ["eventloop-0", "dns-udp-0"])
                // A handler that blocks the loop for 2.5 s: silent for more than the 1 s bound.
                let blocked = receiver.messages.count
                group.next().execute { Thread.sleep(forTimeInterval: 2.5) }
                let stalled = ContinuousClock.now
                while !log.lines.contains(where: { $0.contains("no progress") }) && ContinuousClock.now < stalled + .seconds(10) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(log.lines.contains { $0.contains("stalled=eventloop-0") }, "\(log.lines)")
                let quietFrom = receiver.messages.count
                // Back: the pings resume, and the recovery is logged.
                #expect(await receiver.arrival(after: quietFrom, timeout: .seconds(10)) { $0.has("WATCHDOG=1") } != nil)
                #expect(log.lines.contains { $0.contains("progress again") })
                let pinged = receiver.messages.dropFirst(blocked).filter { $0.has("WATCHDOG=1") }
                let gaps = zip(pinged, pinged.dropFirst()).map { $1.arrived - $0.arrived }
                #expect(gaps.contains { $0 >= .milliseconds(1200) }, "the pings stopped while the loop was blocked: \(gaps)")
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        worker.stop()
        await worker.waitUntilFinished()
        close(socket.descriptor)
        let last = try #require(await receiver.arrival(timeout: .seconds(5)) { $0.has("STOPPING=1") })
        #expect(receiver.messages[last].value("STATUS")?.hasPrefix("stopping") == true)
        #expect(receiver.messages.dropFirst(last + 1).isEmpty, "nothing after STOPPING=1")
    }
}
