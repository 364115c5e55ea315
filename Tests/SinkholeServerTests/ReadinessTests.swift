import Foundation
import SinkholeCore
import SinkholeStore
import Testing
@testable import SinkholeServer

/// /readyz's rules, each fed plain values: what makes a sinkhole not ready, and the JSON that
/// says why.
@Suite("Readiness: listeners, store, writer lag, stalled threads, stopping")
struct ReadinessTests {
    static let start = UTCTime(microseconds: 1_764_460_800_000_000)
    static func at(_ seconds: Double) -> UTCTime { UTCTime(microseconds: start.microseconds + Int64(seconds * 1e6)) }

    static func evaluate(waitingFor: [String] = [], writer: WriterStatistics = WriterStatistics(), inRings: Int = 0,
                         stalls: [ProgressGate.Stall] = [], now: Double = 5, stopping: Bool = false) -> ReadinessReport {
        Readiness.evaluate(waitingFor: waitingFor, writer: writer, inRings: inRings, stalls: stalls,
                           now: at(now), lagBound: .seconds(10), spillLimit: 16, stopping: stopping)
    }

    static func json(_ report: ReadinessReport) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try #require(try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any])
    }

    @Test("all well: ready, no problems, every check ok")
    func ready() throws {
        var writer = WriterStatistics()
        writer.pendingSince = Self.at(4)
        writer.pendingEvents = 6
        let report = Self.evaluate(writer: writer, inRings: 4)
        #expect(report.ready && report.problems.isEmpty)
        let checks = try #require(try Self.json(report)["checks"] as? [String: Any])
        for name in ["listeners", "store", "writer", "threads"] {
            #expect((checks[name] as? [String: Any])?["ok"] as? Bool == true, "\(name)")
        }
        #expect((checks["writer"] as? [String: Any])?["pending_events"] as? Int == 10)
        #expect((checks["writer"] as? [String: Any])?["lag_seconds"] as? Double == 1)
    }

    @Test("a listener still binding: not ready, and which one")
    func binding() throws {
        let report = Self.evaluate(waitingFor: ["http", "metrics"])
        #expect(!report.ready && report.problems == ["listeners: still binding http, metrics"])
        #expect(report.checks.listeners == .init(ok: false, waitingFor: ["http", "metrics"]))
    }

    @Test("a store refusing writes: not ready, since when and the error; a long lag then is the store's, not the writer's")
    func storeFailing() throws {
        var writer = WriterStatistics()
        writer.failingSince = Self.at(1)
        writer.lastError = "database or disk is full"
        writer.spillBatches = 3
        writer.writeErrors = 7
        writer.pendingEvents = 5_000
        let report = Self.evaluate(writer: writer, now: 60)
        #expect(!report.ready)
        #expect(report.problems == ["store: writes failing since \(Self.at(1)): database or disk is full"])
        let store = try #require(try Self.json(report)["checks"] as? [String: Any])["store"] as? [String: Any]
        #expect(store?["ok"] as? Bool == false && store?["error"] as? String == "database or disk is full")
        #expect(store?["spill_batches"] as? Int == 3 && store?["spill_limit"] as? Int == 16 && store?["write_errors"] as? Int == 7)
        #expect(store?["failing_since"] as? String == Self.at(1).description)
        #expect(report.checks.writer.ok)
    }

    @Test("events waiting longer than the bound with a healthy store: the writer is stalled; a quiet spell before them is no lag")
    func writerLag() {
        var writer = WriterStatistics()
        writer.pendingSince = Self.at(1)
        writer.pendingEvents = 2
        let lagging = Self.evaluate(writer: writer, now: 12)
        #expect(!lagging.ready && lagging.problems == ["writer: 2 events waiting, none committed for 11.0 s (bound 10.0 s)"])
        #expect(lagging.checks.writer.lagSeconds == 11)
        // An hour idle, then one event drained a moment ago: caught up, not an hour behind.
        writer.pendingSince = Self.at(3_599.5)
        writer.pendingEvents = 1
        let afterQuiet = Self.evaluate(writer: writer, now: 3_600)
        #expect(afterQuiet.ready && afterQuiet.checks.writer.lagSeconds == 0.5)
        writer.pendingSince = nil
        writer.pendingEvents = 0
        #expect(Self.evaluate(writer: writer, inRings: 3, now: 3_600).checks.writer.lagSeconds == 0)
    }

    @Test("a watched thread silent past the bound: not ready, named; shutdown begun: not ready")
    func stalledAndStopping() {
        let stalled = Self.evaluate(stalls: [.init(name: "writer", silentNanoseconds: 12_300_000_000)])
        #expect(stalled.problems == ["threads: no progress in writer (12.3 s)"])
        #expect(stalled.checks.threads == .init(ok: false, stalled: ["writer"]))
        let stopping = Self.evaluate(stopping: true)
        #expect(!stopping.ready && stopping.problems == ["stopping: graceful shutdown has begun"] && stopping.checks.stopping)
    }
}
