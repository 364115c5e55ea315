import Foundation
import Synchronization
import Testing

/// The store under faults, driven through the real binary: killed under a sustained flood,
/// and a disk that fills up and is freed again. What must hold each time: the file opens and
/// passes `PRAGMA integrity_check`, the rows hold exactly the events the run says it stored
/// (rows and counters commit in one transaction), every offered event is stored or counted
/// as dropped, and the responders keep answering while the store cannot write.
@Suite("The store under faults (SIGKILL under load, a full disk)", .serialized)
struct StoreFaultTests {
    struct Setup {
        let directory: URL
        let port: UInt16
        let config: String
        var dataDirectory: URL { directory.appendingPathComponent("data") }
        var database: String { dataDirectory.appendingPathComponent("checkins.db").path }
    }

    static func makeSetup(ringMB: Int = 64) throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let port = try freeLoopbackPort()
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: fault-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
        dns:
          listen: ["127.0.0.1:\(port)"]
          rate_limit: {responses_per_second: 0}
        http: {listen: [], tls_listen: []}
        writer: {batch_size: 64, flush_interval_ms: 100}
        ring: {memory_mb: \(ringMB)}
        store:
          sqlite: data/checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, port: port, config: config)
    }

    /// Sends distinct seized names (each a new `dns_queries` row, the costliest kind to store)
    /// from a thread of its own, paced, until stopped or `limit` datagrams or `deadline`.
    final class Flood: Sendable {
        private let stopped = Atomic<Bool>(false)
        private let sent = Atomic<Int>(0)
        private let finished = Atomic<Bool>(false)

        init(port: UInt16, prefix: String, limit: Int, perMillisecond: Int = 2, deadline: Duration = .seconds(60)) {
            let thread = Thread { [self] in
                let end = ContinuousClock.now + deadline
                var i = 0
                while i < limit && !stopped.load(ordering: .relaxed) && ContinuousClock.now < end {
                    try? sendDatagram(dnsQuery("\(prefix)\(i).cc.botnet.example", id: UInt16(truncatingIfNeeded: i)), port: port)
                    i += 1
                    sent.store(i, ordering: .relaxed)
                    if i % perMillisecond == 0 { Thread.sleep(forTimeInterval: 0.001) }
                }
                finished.store(true, ordering: .releasing)
            }
            thread.start()
        }

        var count: Int { sent.load(ordering: .relaxed) }

        /// Stops the sender and waits (bounded) until it has.
        func stop() {
            stopped.store(true, ordering: .relaxed)
            let deadline = ContinuousClock.now + .seconds(10)
            while !finished.load(ordering: .acquiring) && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        }
    }

    static func integer(_ database: String, _ sql: String) throws -> Int {
        Int(try sqliteRows(database, sql).first?.first ?? "") ?? -1
    }

    static func waitFor(_ what: String, timeout: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("timed out after \(timeout) waiting for \(what)")
        return false
    }

    @Test("SIGKILL under a sustained flood: the store opens intact and holds exactly what the run committed")
    func killedUnderLoad() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let flood = Flood(port: setup.port, prefix: "kill", limit: 40_000)
        defer { flood.stop() }
        // Killed mid-stream: once some batches are committed and more are on their way.
        _ = try Self.waitFor("the first committed batches", timeout: .seconds(30)) {
            try Self.integer(setup.database, "SELECT coalesce(sum(stored), 0) FROM runs") >= 500
        }
        kill(sinkhole.process.processIdentifier, SIGKILL)
        _ = sinkhole.waitForExit()
        flood.stop()
        #expect(flood.count > 500)
        #expect(try sqliteRows(setup.database, "PRAGMA integrity_check") == [["ok"]])
        // The run's counters and its rows commit in one transaction: after the kill the rows
        // hold exactly the events the last committed batch says were stored, no more, no less.
        let stored = try Self.integer(setup.database, "SELECT stored FROM runs")
        let counted = try Self.integer(setup.database, "SELECT coalesce(sum(count), 0) FROM dns_queries")
        #expect(stored >= 500 && counted == stored, "runs.stored \(stored), dns_queries counted \(counted)")
        #expect(try sqliteRows(setup.database, "SELECT offered >= stored + dropped, stopped_at IS NULL FROM runs") == [["1", "1"]])
        // The next start opens the same file and carries on.
        let again = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { again.terminate() }
        try again.waitUntilReady()
        #expect(try dig(server: "127.0.0.1", port: setup.port, name: "after.cc.botnet.example").answers.count == 1)
        #expect(again.terminate() == 0, "\(again.stderr)")
        #expect(try sqliteRows(setup.database, "PRAGMA integrity_check") == [["ok"]])
    }

    @Test("a full disk: the writer retries, logs once, keeps answering, counts what the rings cannot hold, and catches up when space returns",
          .enabled(if: getuid() == 0, "needs root to mount a small tmpfs (CI runs as root)"))
    func fullDisk() throws {
        // A small ring so the flood outlasts it while the disk is full: drops must be counted.
        let setup = try Self.makeSetup(ringMB: 1)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let data = setup.dataDirectory.path
        try #require(try runStatus("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", data]) == 0, "mount tmpfs on \(data)")
        defer { _ = try? runStatus("/bin/umount", ["-l", data]) }
        // Ballast leaves about 1 MiB for the database and its WAL.
        let ballast = setup.dataDirectory.appendingPathComponent("ballast")
        try Data(count: 7 * 1024 * 1024).write(to: ballast)

        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        let flood = Flood(port: setup.port, prefix: "full", limit: 30_000)
        defer { flood.stop() }
        guard try Self.waitFor("the store to report the full disk", timeout: .seconds(60), { sinkhole.stderr.contains("store write failed") }) else { return }
        // Still answering while nothing can be written (a few tries: the worker may be in
        // its bounded wait for the writer when the first arrives).
        var answered = false
        for i in 0..<10 where !answered {
            answered = (try? dig(server: "127.0.0.1", port: setup.port, name: "full-alive\(i).cc.botnet.example").answers.count) == 1
        }
        #expect(answered, "no answer while the disk was full")
        // /readyz says the store is the problem, and what its error is; the process is alive.
        let metrics = try #require(sinkhole.metricsAddress)
        let notReady = try fetch("http://\(metrics)/readyz")
        #expect(notReady.status == 503, "\(notReady.body)")
        let report = try JSONSerialization.jsonObject(with: Data(notReady.body.utf8)) as? [String: Any]
        let store = (report?["checks"] as? [String: Any])?["store"] as? [String: Any]
        #expect(report?["ready"] as? Bool == false && store?["ok"] as? Bool == false, "\(notReady.body)")
        #expect((store?["error"] as? String)?.contains("full") == true, "\(notReady.body)")
        #expect((report?["problems"] as? [String])?.first?.hasPrefix("store: writes failing since") == true, "\(notReady.body)")
        #expect(try fetch("http://\(metrics)/healthz").status == 200)
        let scraped = try PrometheusText(try fetch("http://\(metrics)/metrics").body)
        #expect(scraped["sinkhole_store_failing"] == 1 && (scraped["sinkhole_store_write_errors_total"] ?? 0) >= 1)
        // And /status's writer indicator is red, with the batches it holds.
        let status = try fetch("http://\(metrics)/status").body
        #expect(status.contains("<li id=\"drop-writer\" class=\"bad\""), "\(status)")
        // Several rings' worth more while the writer cannot write.
        let atFull = flood.count
        _ = Self.waitFor("the flood to go on while the disk is full", timeout: .seconds(20)) { flood.count >= atFull + 4_000 }
        #expect(sinkhole.process.isRunning)
        flood.stop()
        let sent = flood.count

        try FileManager.default.removeItem(at: ballast)
        _ = Self.waitFor("the store to recover", timeout: .seconds(60)) { sinkhole.stderr.contains("store writable again") }
        // Ready again once the spill and the rings are committed.
        _ = try Self.waitFor("/readyz to answer 200 again", timeout: .seconds(30)) { try fetch("http://\(metrics)/readyz").status == 200 }
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")

        let log = sinkhole.stderr
        // Once per change of state, not once per failed batch.
        #expect(log.components(separatedBy: "store write failed").count - 1 == 1, "\(log)")
        #expect(log.components(separatedBy: "store writable again").count - 1 == 1, "\(log)")
        #expect(try sqliteRows(setup.database, "PRAGMA integrity_check") == [["ok"]])
        let run = try sqliteRows(setup.database, "SELECT offered, stored, dropped FROM runs").first?.compactMap { Int($0) } ?? []
        try #require(run.count == 3)
        let counted = try Self.integer(setup.database, "SELECT coalesce(sum(count), 0) FROM dns_queries")
        #expect(run[0] == run[1] + run[2], "every event stored or counted as dropped: \(run)")
        #expect(run[2] > 0, "the flood outlasted a 1 MiB ring while the disk was full, yet nothing was dropped: \(run)")
        #expect(counted == run[1], "rows hold \(counted) events, the run says \(run[1]) stored")
        #expect(run[0] <= sent + 20 && run[0] >= sent / 2, "offered \(run[0]) of \(sent) sent")
    }
}

/// Runs a program to completion and returns its exit status.
func runStatus(_ path: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}
