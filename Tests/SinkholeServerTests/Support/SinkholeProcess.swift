import CSQLite
import Foundation
import Synchronization
import Testing

/// The built `sinkhole` binary, started the way an operator would: a config file, a real
/// process, signals to stop it. Every process is stopped by its own PID.
final class SinkholeProcess {
    let process = Process()
    let stderrPath: String
    let directory: URL

    /// The binary next to the test bundle (the test target depends on the executable, so
    /// SwiftPM builds both into one directory), or `$SINKHOLE_BINARY`.
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["SINKHOLE_BINARY"] { return override }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("sinkhole").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent("sinkhole").path
    }

    /// - Parameter launcher: a command that runs the binary in place (`ip netns exec NAME`,
    ///   which execs it, so the PID signalled is the sinkhole's), or empty to run it directly.
    /// - Parameter environment: added to the test's own environment, whose systemd variables
    ///   (a test run from a unit) are left out, so only a test that sets them talks to systemd.
    /// - Parameter journal: sets `JOURNAL_STREAM` to the stderr file's device and inode, as
    ///   systemd does for the stream it connects, so the binary takes its stderr for the journal.
    init(arguments: [String], directory: URL, launcher: [String] = [], environment: [String: String] = [:],
         journal: Bool = false) throws {
        self.directory = directory
        if arguments.first == "run", let flag = arguments.firstIndex(of: "--config"), flag + 1 < arguments.count {
            try Self.giveMetricsAPort(configuration: arguments[flag + 1], launched: !launcher.isEmpty)
        }
        stderrPath = directory.appendingPathComponent("stderr.log").path
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let command = launcher + [Self.binary] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardOutput = FileHandle.nullDevice
        var inherited = ProcessInfo.processInfo.environment
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] { inherited[name] = nil }
        process.environment = inherited.merging(environment) { _, set in set }
        if journal {
            let attributes = try FileManager.default.attributesOfItem(atPath: stderrPath)
            let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value ?? 0
            let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
            process.environment?["JOURNAL_STREAM"] = "\(device):\(inode)"
        }
        try process.run()
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The observability listener is on by default at 127.0.0.1:9798, which two sinkholes
    /// started at once by parallel tests would both want. A test config that does not set
    /// `metrics:` gets a free port as every other listener of a test does (`metricsAddress` says
    /// which; not port 0, whose long-lived listener could take a port another test has just
    /// been handed by `freeLoopbackPort` and not yet bound), or none
    /// when started through a launcher (a network namespace, whose loopback may be down;
    /// systemd-socket-activate).
    private static func giveMetricsAPort(configuration path: String, launched: Bool) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              !text.split(separator: "\n").contains(where: { $0.hasPrefix("metrics:") }) else { return }
        let line = launched ? "metrics: {listen: null}" : "metrics: {listen: \"127.0.0.1:\(try freeLoopbackPort())\"}"
        try (text + (text.hasSuffix("\n") ? "" : "\n") + line + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Where /metrics, /readyz and /status answer, from the "sinkhole ready" line (after
    /// `waitUntilReady`): `127.0.0.1:PORT`.
    var metricsAddress: String? {
        guard let line = stderr.split(separator: "\n").first(where: { $0.contains("sinkhole ready") }),
              let start = line.range(of: "metrics.listen=[")?.upperBound,
              let end = line[start...].firstIndex(of: "]") else { return nil }
        let address = line[start..<end].filter { $0 != "\"" }
        return address.isEmpty ? nil : String(address)
    }

    /// Waits (bounded) until the log says every listener is bound.
    func waitUntilReady(timeout: Duration = .seconds(60)) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stderr.contains("sinkhole ready") { return }
            if !process.isRunning {
                Issue.record("sinkhole exited before it was ready (status \(process.terminationStatus)):\n\(stderr)")
                throw CancellationError()
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("sinkhole not ready after \(timeout):\n\(stderr)")
        terminate()
        throw CancellationError()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    @discardableResult
    func terminate(timeout: Duration = .seconds(30)) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        return waitForExit(timeout: timeout)
    }

    func waitForExit(timeout: Duration = .seconds(30)) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Runs the binary to completion (bounded) and returns its status and stderr.
    static func runToExit(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> (status: Int32?, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return (nil, "", "timed out") }
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, stdout, stderr)
    }
}

/// Ports this test process has handed out: a test asks for two or three before its sinkhole
/// binds any, so the same one must not come back.
private let handedOutPorts = Mutex<Set<UInt16>>([])

/// Ports outside the kernel's ephemeral range (net.ipv4.ip_local_port_range): below it when
/// there is room there (Linux's default starts at 32768), else above it.
private let portsOutsideEphemeral: Range<Int> = {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    let (low, high) = bounds.count == 2 ? (bounds[0], bounds[1]) : (32768, 60999)
    if low > 11000 { return 10000..<low }
    if high < 64535 { return (high + 1)..<65536 }
    return 1024..<65536  // no room outside it: any port, checked free as always
}()

/// A loopback port free for both TCP and UDP at the time of asking, never handed out before in
/// this process. Taken below the kernel's ephemeral range: a port the kernel picked for
/// bind(0) is also what it picks for the next outgoing connection's local port, and one of
/// those (a test's own client) took the metrics port of a sinkhole that had not bound it yet.
func freeLoopbackPort() throws -> UInt16 {
    for _ in 0..<1000 {
        let port = UInt16(Int.random(in: portsOutsideEphemeral))
        guard handedOutPorts.withLock({ $0.insert(port).inserted }) else { continue }
        if loopbackPortIsFree(port, type: SOCK_STREAM), loopbackPortIsFree(port, type: SOCK_DGRAM) { return port }
    }
    throw CancellationError()
}

/// Whether `port` on 127.0.0.1 can be bound now with `type` (no SO_REUSEADDR: stricter than
/// the sinkhole's own listeners).
func loopbackPortIsFree(_ port: UInt16, type: __socket_type) -> Bool {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A fresh directory under the system temp dir, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Reads rows from a SQLite file with the C API, every column as text.
func sqliteRows(_ path: String, _ sql: String) throws -> [[String]] {
    var db: OpaquePointer?
    guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let db else {
        Issue.record("cannot open \(path)")
        throw CancellationError()
    }
    defer { sqlite3_close_v2(db) }
    var statement: OpaquePointer?
    guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
        Issue.record("cannot prepare \(sql): \(String(cString: sqlite3_errmsg(db)))")
        throw CancellationError()
    }
    defer { sqlite3_finalize(statement) }
    var rows: [[String]] = []
    while sqlite3_step(statement) == SQLITE_ROW {
        rows.append((0..<sqlite3_column_count(statement)).map { column in
            sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "NULL"
        })
    }
    return rows
}

/// One `dig` query, answered or not, as the test saw it.
struct DigResult {
    var status: String?
    var flags: Set<String>
    var answers: [String]
    var output: String
}

/// Runs the real `dig` (one try, so a query is sent exactly once) and parses its reply.
/// `options` go before the name (e.g. `+tcp`).
func dig(server: String, port: UInt16, name: String, type: String = "A", options: [String] = []) throws -> DigResult {
    let result = try runTool("/usr/bin/dig", ["@\(server)", "-p", "\(port)", "+tries=1", "+time=3",
                                              "+noedns"] + options + [name, type])
    var status: String?
    var flags: Set<String> = []
    var answers: [String] = []
    var inAnswer = false
    for line in result.split(separator: "\n", omittingEmptySubsequences: false) {
        if let range = line.range(of: "status: ") {
            status = String(line[range.upperBound...].prefix { $0 != "," })
        }
        if line.hasPrefix(";; flags: ") {
            let text = line.dropFirst(";; flags: ".count).prefix { $0 != ";" }
            flags = Set(text.split(separator: " ").map(String.init))
        }
        if line.hasPrefix(";; ANSWER SECTION:") { inAnswer = true; continue }
        if inAnswer {
            if line.isEmpty { inAnswer = false; continue }
            answers.append(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init).joined(separator: " "))
        }
    }
    return DigResult(status: status, flags: flags, answers: answers, output: result)
}

func runTool(_ path: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
