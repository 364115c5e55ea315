import SinkholeCore
import SinkholeStore

/// /readyz's answer: ready, or every reason why not, as JSON a monitor can alert on and a
/// person can read.
struct ReadinessReport: Encodable, Equatable, Sendable {
    struct Listeners: Encodable, Equatable, Sendable {
        var ok: Bool
        var waitingFor: [String]
    }

    struct Store: Encodable, Equatable, Sendable {
        var ok: Bool
        var failingSince: String?
        var error: String?
        var spillBatches: Int
        var spillLimit: Int
        var writeErrors: Int
    }

    struct Writer: Encodable, Equatable, Sendable {
        var ok: Bool
        var pendingEvents: Int
        var lagSeconds: Double
    }

    struct Threads: Encodable, Equatable, Sendable {
        var ok: Bool
        var stalled: [String]
    }

    struct Checks: Encodable, Equatable, Sendable {
        var listeners: Listeners
        var store: Store
        var writer: Writer
        var threads: Threads
        var stopping: Bool
    }

    var ready: Bool
    var problems: [String]
    var checks: Checks
}

/// What makes a running sinkhole ready to take bots' traffic, as a pure function of what the
/// pipeline reports, so each rule is tested with plain values.
enum Readiness {
    /// Not ready while any of these holds: a listener is still binding; the store refuses
    /// writes (events pile up in the spill, then the rings, then are dropped); events have
    /// waited longer than `lagBound` for a commit while the store is not refusing (a writer
    /// too slow or stuck); a watched thread has stopped going round its loop; shutdown has begun.
    static func evaluate(waitingFor: [String], writer: WriterStatistics, inRings: Int, stalls: [ProgressGate.Stall],
                         now: UTCTime, lagBound: Duration, spillLimit: Int, stopping: Bool) -> ReadinessReport {
        var problems: [String] = []
        if !waitingFor.isEmpty {
            problems.append("listeners: still binding \(waitingFor.joined(separator: ", "))")
        }
        let failing = writer.failingSince != nil
        if let since = writer.failingSince {
            problems.append("store: writes failing since \(since.description): \(writer.lastError ?? "unknown error")")
        }
        let pending = writer.pendingEvents + inRings
        // From the oldest event drained and not committed, not from the last commit: an idle
        // writer commits nothing, so its last commit may be hours old while it is caught up.
        // Events still in the rings are drained every pass; a pass that never ends is the
        // heartbeat's to catch (threads).
        let lag = writer.pendingSince.map { max(0, Double(now.microseconds - $0.microseconds) / 1e6) } ?? 0
        let lagLimit = Double(lagBound.components.seconds) + Double(lagBound.components.attoseconds) / 1e18
        let writerOK = failing || lag <= lagLimit
        if !writerOK {
            problems.append("writer: \(pending) events waiting, none committed for \(formatted(lag)) s (bound \(formatted(lagLimit)) s)")
        }
        if !stalls.isEmpty {
            problems.append("threads: no progress in \(stalls.map(\.description).joined(separator: ", "))")
        }
        if stopping { problems.append("stopping: graceful shutdown has begun") }
        return ReadinessReport(
            ready: problems.isEmpty, problems: problems,
            checks: .init(
                listeners: .init(ok: waitingFor.isEmpty, waitingFor: waitingFor),
                store: .init(ok: !failing, failingSince: writer.failingSince?.description, error: failing ? writer.lastError : nil,
                             spillBatches: writer.spillBatches, spillLimit: spillLimit, writeErrors: writer.writeErrors),
                writer: .init(ok: writerOK, pendingEvents: pending, lagSeconds: (lag * 1000).rounded() / 1000),
                threads: .init(ok: stalls.isEmpty, stalled: stalls.map(\.name)),
                stopping: stopping))
    }

    private static func formatted(_ seconds: Double) -> String {
        String((seconds * 10).rounded() / 10)
    }
}
