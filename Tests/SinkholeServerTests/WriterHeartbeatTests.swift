@testable import SinkholeServer
import Dispatch
import Foundation
import Logging
import SinkholeCore
import SinkholeStore
import Synchronization
import Testing

/// The writer on its own thread, watched by a progress gate, over a store that refuses writes
/// or holds one: the watchdog must tell "the store says no" (the writer spills and counts: a
/// restart would lose that) from "the writer is stuck in a call" (a restart is the cure).
@Suite("The writer's heartbeat", .serialized)
struct WriterHeartbeatTests {
    /// A real SQLite store behind a switch: writes pass, are refused, or wait in the call
    /// until `release()` (bounded, so a failing test cannot hang).
    final class SwitchedStore: CheckInStore, Sendable {
        enum Mode { case pass, refuse, hold }

        private let inner: SQLiteStore
        private let mode: Mutex<Mode>
        private let held = DispatchSemaphore(value: 0)
        private let entered = Atomic<Int>(0)

        init(path: String, mode: Mode) throws {
            inner = try SQLiteStore(path: path)
            self.mode = Mutex(mode)
        }

        /// Writes that reached the store, held or not.
        var writes: Int { entered.load(ordering: .relaxed) }

        func set(_ mode: Mode) { self.mode.withLock { $0 = mode } }

        /// Lets a held write go on; later writes pass.
        func release() {
            set(.pass)
            held.signal()
        }

        func beginRun(node: String, startedAt: UTCTime) throws -> Int64 {
            try inner.beginRun(node: node, startedAt: startedAt)
        }

        func write(_ batch: StoreBatch, node: String, run: Int64) throws {
            entered.add(1, ordering: .relaxed)
            switch mode.withLock({ $0 }) {
            case .pass: break
            case .refuse: throw CancellationError()
            case .hold: _ = held.wait(timeout: .now() + .seconds(20))
            }
            try inner.write(batch, node: node, run: run)
        }

        func enforceRetention(_ retention: Retention, now: UTCTime, limit: Int) throws -> Int {
            try inner.enforceRetention(retention, now: now, limit: limit)
        }

        func close() { inner.close() }
    }

    /// A started writer over `store`, with one ring, its heartbeat watched by a new gate.
    static func writer(_ store: SwitchedStore) throws -> (Writer, EventRing<CheckIn>, ProgressGate) {
        let rings = EventRings<CheckIn>(slotsPerRing: 1024, filler: .blank)
        let ring = rings.register(name: "eventloop-0")
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let writer = Writer(configuration: .init(node: "heartbeat", batchSize: 64, flushInterval: .milliseconds(10),
                                                 idlePoll: .milliseconds(1), finalRetryLimit: .seconds(5)),
                            rings: rings, store: store, logger: quiet)
        let gate = ProgressGate()
        gate.watch(writer.heartbeat)
        try writer.start()
        return (writer, ring, gate)
    }

    static func event(_ port: UInt16) -> CheckIn {
        CheckIn(time: UTCTime.now(), source: IPAddress("127.0.0.1")!, sourcePort: port,
                destination: IPAddress("198.51.100.10")!, destinationPort: 53, transport: .udp, service: .dns)
    }

    static func stalled(_ gate: ProgressGate) -> [String] {
        gate.stalled(now: Heartbeat.now(), bound: .milliseconds(300)).map(\.name)
    }

    /// Polls `condition` every 10 ms for up to `timeout`.
    static func eventually(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("a write held inside the store closes the gate, naming the writer; it opens again once the call returns, and the events are stored")
    func heldWrite() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SwitchedStore(path: directory.appendingPathComponent("checkins.db").path, mode: .hold)
        let (writer, ring, gate) = try Self.writer(store)
        for port in 1...5 { #expect(ring.push(Self.event(UInt16(port)))) }
        #expect(try await Self.eventually { store.writes == 1 }, "the writer never reached the store")
        #expect(try await Self.eventually { Self.stalled(gate) == ["writer"] }, "the gate stayed open while the writer was held")
        store.release()
        #expect(try await Self.eventually { Self.stalled(gate).isEmpty }, "the gate stayed closed after the call returned")
        let outcome = await writer.stop()
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 5, stored: 5, dropped: 0))
    }

    @Test("a store that refuses every write keeps the gate open: the writer goes on passing, spilling and counting")
    func refusingStore() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SwitchedStore(path: directory.appendingPathComponent("checkins.db").path, mode: .refuse)
        let (writer, ring, gate) = try Self.writer(store)
        for port in 1...5 { #expect(ring.push(Self.event(UInt16(port)))) }
        // Refused, retried with backoff (100, 200, 400 ms…): over a second, never stuck.
        let watchedUntil = ContinuousClock.now + .milliseconds(1500)
        var closed: [String] = []
        while ContinuousClock.now < watchedUntil {
            closed += Self.stalled(gate)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(closed.isEmpty, "the gate closed on a refusing store: \(closed)")
        #expect(store.writes >= 3 && writer.committedCounters.stored == 0, "\(store.writes) attempts")
        store.set(.pass)
        let outcome = await writer.stop()
        #expect(outcome.lost == 0 && outcome.counters == RunCounters(offered: 5, stored: 5, dropped: 0))
    }
}
