import Foundation
import Testing

/// What an operator sees of a running sinkhole's threads in `top -H`, `ps -L` or
/// /proc/PID/task: each of its own threads by name, the storing ones at a lower priority than
/// the ones answering bots.
@Suite("sinkhole run: its threads, by name and priority")
struct ThreadNamesBinaryTests {
    /// Name → nice value of every thread of `pid` (the 19th field of /proc/PID/task/TID/stat).
    static func threads(of pid: Int32) throws -> [String: Int] {
        var threads: [String: Int] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            let name = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
            let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8)
            // The name in parentheses may hold spaces: the fields are counted after it.
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            threads[name] = Int(fields[16])
        }
        return threads
    }

    @Test("the writer and its commit thread are named and run 10 nice levels below the DNS UDP worker and the catch-all reader, which keep the process's priority")
    func namedAndPrioritised() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dnsPort = try freeLoopbackPort()
        let catchAllPort = try freeLoopbackPort()
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: threads-node
        families:
          - name: seized
            addresses: [127.0.0.2]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
          udp_workers: 1
        http:
          listen: []
          tls_listen: []
        catch_all:
          udp: ["127.0.0.1:\(catchAllPort)"]
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()

        let pid = sinkhole.process.processIdentifier
        let threads = try Self.threads(of: pid)
        let base = try #require(threads["sinkhole"], "the main thread: \(threads)")
        #expect(threads["sinkhole-writer"] == min(base + 10, 19), "\(threads)")
        #expect(threads["sinkhole-commit"] == min(base + 10, 19), "\(threads)")
        #expect(threads["dns-udp-0"] == base, "\(threads)")
        #expect(threads["catchall-udp"] == base, "\(threads)")
    }
}
