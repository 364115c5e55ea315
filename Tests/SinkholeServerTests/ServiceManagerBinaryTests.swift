@testable import SinkholeServer
import Foundation
import PostgresTestSupport
import SinkholeCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built binary as systemd runs it (`Type=notify`, `WatchdogSec=`): the test holds the
/// notification socket systemd would, sets `NOTIFY_SOCKET` and `WATCHDOG_USEC` (2 s: a ping
/// about every second), and reads what arrives, when, and in which order.
@Suite("sinkhole run under systemd: notifications and the watchdog", .serialized)
struct ServiceManagerBinaryTests {
    struct Setup {
        let directory: URL
        let dnsPort: UInt16
        let httpPort: UInt16
        let config: String
        let receiver: NotifySocketReceiver
        var database: String { directory.appendingPathComponent("data/checkins.db").path }

        /// What systemd puts in the environment of a `Type=notify` unit with `WatchdogSec=2s`.
        var environment: [String: String] { ["NOTIFY_SOCKET": receiver.notifySocket, "WATCHDOG_USEC": "2000000"] }
    }

    /// DNS and HTTP on loopback, one family for cc.botnet.example, SQLite in the directory;
    /// with `capture`, live capture on lo too (passive: nothing is sent to the sinkhole address).
    static func makeSetup(rateLimit: Int = 20, capture: Bool = false) throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let dnsPort = try freeLoopbackPort()
        let httpPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: systemd-test
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
          rate_limit: {responses_per_second: \(rateLimit)}
        http:
          listen: ["127.0.0.1:\(httpPort)"]
          tls_listen: []
        writer: {batch_size: 1024, flush_interval_ms: 100}
        store:
          sqlite: data/checkins.db
        \(capture ? "capture: {interface: lo, buffer_mb: 2}" : "")
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let receiver = try NotifySocketReceiver(path: directory.appendingPathComponent("notify").path)
        return Setup(directory: directory, dnsPort: dnsPort, httpPort: httpPort, config: config, receiver: receiver)
    }

    static func monotonicMicroseconds() -> UInt64 { Heartbeat.now() / 1_000 }

    /// The gaps between the WATCHDOG=1 datagrams among `messages`.
    static func pingGaps(_ messages: some Collection<NotifySocketReceiver.Message>) -> [Duration] {
        let pings = messages.filter { $0.has("WATCHDOG=1") }
        return zip(pings, pings.dropFirst()).map { $1.arrived - $0.arrived }
    }

    @Test("READY=1 once the listeners answer, STATUS with live counts, RELOADING=1 + MONOTONIC_USEC then READY=1 on SIGHUP, WATCHDOG=1 every second of a 2 s watchdog, STOPPING=1 on SIGTERM, in that order; logs with journal priorities")
    func notifications() throws {
        // Live capture needs CAP_NET_RAW: as root (CI), its thread is watched too.
        let capturing = getuid() == 0
        let setup = try Self.makeSetup(capture: capturing)
        let receiver = setup.receiver
        defer {
            receiver.stop()
            try? FileManager.default.removeItem(at: setup.directory)
        }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory,
                                           environment: setup.environment, journal: true)
        defer { sinkhole.terminate() }
        let ready = try #require(receiver.waitFor(timeout: .seconds(60)) { $0.has("READY=1") }, "\(sinkhole.stderr)")
        // The moment READY=1 is read, DNS and HTTP answer: systemd may start what depends on it.
        let answer = try dig(server: "127.0.0.1", port: setup.dnsPort, name: "x.cc.botnet.example")
        #expect(answer.status == "NOERROR" && answer.answers.first?.hasSuffix("IN A 198.51.100.10") == true, "\(answer.output)")
        let http = try runTool("/usr/bin/curl", ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "-H", "Host: cc.botnet.example", "http://127.0.0.1:\(setup.httpPort)/gate.php"])
        #expect(http == "200")
        // What the watchdog watches: the writer, the capture, every event loop and UDP worker.
        let armed = try #require(sinkhole.stderr.firstMatch(of: /watchdog.watched=([^\[]*) \[SinkholeServer\] watchdog on/),
                                 "\(sinkhole.stderr)")
        let watched = Set(armed.1.split(separator: ", ").map(String.init))
        let expected = Set(["writer", "eventloop-0", "dns-udp-0"] + (capturing ? ["capture-lo"] : []))
        #expect(watched.isSuperset(of: expected), "\(watched)")
        let startup = receiver.messages.prefix(ready).compactMap { $0.value("STATUS") }
        #expect(startup == ["loading the seized names, certificates and feeds", "starting the services"], "\(startup)")
        #expect(receiver.messages[ready].value("STATUS") == "serving 1 seized names; check-ins: 0 stored, 0 dropped, 0 in the rings")

        // The status follows the counts (looked at every 5 s): the query and the request stored.
        let counted = try #require(receiver.waitFor(after: ready, timeout: .seconds(20)) {
            $0.value("STATUS") == "serving 1 seized names; check-ins: 2 stored, 0 dropped, 0 in the rings"
        }, "\(receiver.messages.map(\.text))")
        // Pings at half the interval: about one a second.
        _ = receiver.waitFor(after: counted, timeout: .seconds(10)) { _ in
            Self.pingGaps(receiver.messages.dropFirst(ready)).count >= 5
        }
        // Each gap well inside the 2 s systemd allows; the typical one, half of it.
        let gaps = Self.pingGaps(receiver.messages.dropFirst(ready))
        let median = gaps.sorted()[gaps.count / 2]
        #expect(gaps.count >= 5 && gaps.allSatisfy { $0 > .milliseconds(500) && $0 < .milliseconds(1900) }, "\(gaps)")
        #expect(median > .milliseconds(850) && median < .milliseconds(1300), "\(gaps)")

        // SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC at the reload, then READY=1 with the result.
        let sent = receiver.messages.count
        let before = Self.monotonicMicroseconds()
        kill(sinkhole.process.processIdentifier, SIGHUP)
        let reloading = try #require(receiver.waitFor(after: sent, timeout: .seconds(30)) { $0.has("RELOADING=1") })
        let after = Self.monotonicMicroseconds()
        let stamp = try #require(receiver.messages[reloading].value("MONOTONIC_USEC").flatMap(UInt64.init))
        #expect(before <= stamp && stamp <= after, "MONOTONIC_USEC \(stamp) not within \(before)…\(after)")
        let reloaded = try #require(receiver.waitFor(after: reloading + 1, timeout: .seconds(30)) { $0.has("READY=1") })
        #expect(receiver.messages[reloaded].value("STATUS") == "reloaded: 1 seized names in force")
        #expect(receiver.waitFor(after: reloaded + 1, timeout: .seconds(10)) { $0.has("WATCHDOG=1") } != nil, "pings go on after the reload")

        // SIGTERM: STOPPING=1 first, then nothing but the final status.
        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let messages = receiver.messages
        let stopping = try #require(messages.firstIndex { $0.has("STOPPING=1") }, "\(messages.map(\.text))")
        #expect(stopping > reloaded)
        #expect(messages[stopping].value("STATUS")?.hasPrefix("stopping") == true)
        #expect(messages.dropFirst(stopping + 1).map(\.text) == ["STATUS=stopped: 2 check-ins stored, 0 dropped, 0 lost"])
        #expect(!messages.prefix(ready).contains { $0.has("WATCHDOG=1") }, "no ping before READY=1")
        #expect(messages.filter { $0.has("READY=1") }.count == 2 && messages.filter { $0.has("RELOADING=1") }.count == 1)

        // stderr is the journal here (JOURNAL_STREAM names it): a priority on every line, no timestamps.
        let lines = sinkhole.stderr.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.wholeMatch(of: /<[2-7]>(debug|info|notice|warning|error|critical) sinkhole: .*/) != nil },
                "\(sinkhole.stderr)")
        #expect(lines.contains { $0.hasPrefix("<5>notice sinkhole:") && $0.hasSuffix("sinkhole ready") })
        #expect(sinkhole.stderr.firstMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/) == nil, "journald stamps lines itself")
    }

    @Test("a writer stalled in a store call (a PostgreSQL lock) stops the watchdog pings and the log names it; they resume once it moves, and every check-in is stored")
    func stalledWriter() throws {
        let cluster = try PostgresCluster.shared()
        let database = try cluster.makeDatabase()
        let node = try PostgresBinaryTests.makeNode("node-watchdog", url: cluster.url(database: database))
        let receiver = try NotifySocketReceiver(path: node.directory.appendingPathComponent("notify").path)
        defer {
            receiver.stop()
            try? FileManager.default.removeItem(at: node.directory)
        }
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", node.config], directory: node.directory,
                                           environment: ["NOTIFY_SOCKET": receiver.notifySocket, "WATCHDOG_USEC": "2000000"])
        defer { sinkhole.terminate() }
        let ready = try #require(receiver.waitFor(timeout: .seconds(60)) { $0.has("READY=1") }, "\(sinkhole.stderr)")
        var queries = 0
        func query(_ count: Int) throws {
            for _ in 0..<count {
                let answer = try dig(server: "127.0.0.1", port: node.dnsPort, name: "x.cc.botnet.example")
                #expect(answer.status == "NOERROR", "\(answer.output)")
                queries += 1
            }
        }
        // A first batch commits (its day's partition made), and the pings are regular.
        try query(2)
        #expect(receiver.waitFor(after: ready, timeout: .seconds(15)) { _ in
            Self.pingGaps(receiver.messages.dropFirst(ready)).count >= 3
        } != nil)

        // A second session takes the runs table, which every batch's transaction locks first.
        let lock = try PostgresLockSession(cluster: cluster, database: database, table: "runs")
        defer { lock.release() }
        let locked = receiver.messages.count
        try query(5)
        // The writer's next batch waits on the lock; after the 2 s bound the gate closes.
        let noticed = ContinuousClock.now + .seconds(15)
        while !sinkhole.stderr.contains("no progress") && ContinuousClock.now < noticed { Thread.sleep(forTimeInterval: 0.05) }
        #expect(sinkhole.stderr.contains("stalled=writer"), "\(sinkhole.stderr)")
        // Held a little longer (still inside the store's 10 s statement timeout), then released.
        Thread.sleep(forTimeInterval: 2.5)
        try query(3)
        let released = receiver.messages.count
        lock.release()
        let resumed = try #require(receiver.waitFor(after: released, timeout: .seconds(15)) { $0.has("WATCHDOG=1") },
                                   "\(sinkhole.stderr)")
        #expect(sinkhole.stderr.contains("progress again"))
        // While the writer waited on the lock no ping went out: a gap of several intervals.
        let gaps = Self.pingGaps(receiver.messages[locked...resumed])
        #expect(gaps.contains { $0 >= .milliseconds(3000) }, "\(gaps)")
        #expect(receiver.waitFor(after: resumed + 1, timeout: .seconds(10)) { $0.has("WATCHDOG=1") } != nil, "pings go on")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        // Nothing lost: the run adds up, and every query is in the summary.
        let runs = try PostgresBinaryTests.rows(cluster, database, "SELECT offered, stored, dropped FROM runs")
        #expect(runs == [["\(queries)", "\(queries)", "0"]], "\(runs), \(queries) queries")
        #expect(try PostgresBinaryTests.rows(cluster, database, "SELECT sum(count) FROM dns_queries") == [["\(queries)"]])
    }

    @Test("SIGHUP during a paced UDP flood: every query is answered and stored, each reload is announced RELOADING=1 then READY=1, and the pings never stop; plain log lines off the journal")
    func reloadsDuringFlood() throws {
        let setup = try Self.makeSetup(rateLimit: 0)
        let receiver = setup.receiver
        defer {
            receiver.stop()
            try? FileManager.default.removeItem(at: setup.directory)
        }
        // JOURNAL_STREAM inherited from elsewhere: not this stderr, so plain lines.
        var environment = setup.environment
        environment["JOURNAL_STREAM"] = "1:1"
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory,
                                           environment: environment)
        defer { sinkhole.terminate() }
        let ready = try #require(receiver.waitFor(timeout: .seconds(60)) { $0.has("READY=1") }, "\(sinkhole.stderr)")

        // Long enough for several pings on a fast machine (about 5 s here).
        let total = 100_000
        let reloads = 5
        let floodStarted = ContinuousClock.now
        let flood = PacedUDPFlood(port: setup.dnsPort, name: "x.cc.botnet.example", total: total, holdAt: total)
        flood.release()
        for reload in 1...reloads {
            #expect(flood.waitForAnswered(reload * total / (reloads + 1)), "the flood stalled before reload \(reload)")
            let sent = receiver.messages.count
            kill(sinkhole.process.processIdentifier, SIGHUP)
            let reloading = receiver.waitFor(after: sent, timeout: .seconds(30)) { $0.has("RELOADING=1") }
            #expect(reloading.flatMap { start in receiver.waitFor(after: start + 1, timeout: .seconds(30)) { $0.has("READY=1") } } != nil,
                    "reload \(reload) not announced: \(receiver.messages.dropFirst(sent).map(\.text))")
        }
        let outcome = try #require(flood.finish(), "the flood did not end")
        let floodEnded = ContinuousClock.now
        #expect(!outcome.timedOut && outcome.sent == total && outcome.unanswered == 0, "\(outcome)")
        #expect(outcome.badReplyCount == 0, "\(outcome.badReplies)")
        #expect(outcome.answers == ["198.51.100.10": total])

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let messages = Array(receiver.messages.dropFirst(ready))
        #expect(messages.filter { $0.has("RELOADING=1") }.count == reloads)
        let stopping = messages.firstIndex { $0.has("STOPPING=1") } ?? messages.count
        let gaps = Self.pingGaps(messages[..<stopping])
        let duringFlood = messages.filter { $0.has("WATCHDOG=1") && $0.arrived > floodStarted && $0.arrived < floodEnded }
        #expect(duringFlood.count >= 2, "\(duringFlood.count) pings in a flood of \(floodEnded - floodStarted)")
        // Never as long as the 2 s after which systemd would have restarted the sinkhole.
        #expect(!gaps.isEmpty && gaps.allSatisfy { $0 < .milliseconds(1900) }, "the flood never closed the gate: \(gaps)")
        #expect(!sinkhole.stderr.contains("no progress"), "\(sinkhole.stderr)")

        let run = try sqliteRows(setup.database, "SELECT offered, stored, dropped FROM runs")
        #expect(run == [["\(total)", "\(total)", "0"]], "\(run)")
        #expect(try sqliteRows(setup.database, "SELECT sum(count) FROM dns_queries") == [["\(total)"]])
        // Plain lines, stamped, without priorities.
        let firstLine = sinkhole.stderr.prefix { $0 != "\n" }
        #expect(firstLine.firstMatch(of: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* info sinkhole:/) != nil, "\(firstLine)")
        #expect(!sinkhole.stderr.contains("<6>"))
    }
}

/// A second PostgreSQL session holding `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` in an open
/// transaction until `release()`: psql reading its statements from a pipe the test writes.
final class PostgresLockSession {
    let psql = Process()
    private let input = Pipe()
    private var released = false

    /// Returns once the lock is granted (bounded).
    init(cluster: PostgresCluster, database: String, table: String) throws {
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        psql.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.directory, "-p", "\(cluster.port)",
                          "-U", cluster.user, "-d", database]
        psql.standardInput = input
        psql.standardOutput = FileHandle.nullDevice
        try psql.run()
        input.fileHandleForWriting.write(Data("BEGIN;\nLOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE;\n".utf8))
        let deadline = ContinuousClock.now + .seconds(15)
        let granted = """
            SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE c.relname = '\(table)' AND l.mode = 'AccessExclusiveLock' AND l.granted
            """
        while try cluster.psql(database: database, granted).trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            guard ContinuousClock.now < deadline, psql.isRunning else {
                release()
                Issue.record("the lock on \(table) was not granted")
                throw CancellationError()
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Commits (releasing the lock) and waits (bounded) for psql to exit; idempotent.
    func release() {
        guard !released else { return }
        released = true
        input.fileHandleForWriting.write(Data("COMMIT;\n".utf8))
        try? input.fileHandleForWriting.close()
        let deadline = ContinuousClock.now + .seconds(10)
        while psql.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if psql.isRunning { kill(psql.processIdentifier, SIGKILL) }
    }
}
