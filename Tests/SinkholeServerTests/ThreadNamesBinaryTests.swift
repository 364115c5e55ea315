import Foundation
import Testing

/// What an operator sees of a running sinkhole's threads in `top -H`, `ps -L` or
/// /proc/PID/task: each of its own threads by name, the storing ones at a lower priority than
/// the ones answering bots.
@Suite("sinkhole run: its threads, by name and priority")
struct ThreadNamesBinaryTests {
    /// Every thread of `pid`: (tid, name, nice value: the 19th field of /proc/PID/task/TID/stat).
    static func threads(of pid: Int32) throws -> [(tid: Int32, name: String, nice: Int)] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").compactMap { tid in
            let name = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
            let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8)
            // The name in parentheses may hold spaces: the fields are counted after it.
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            guard let id = Int32(tid), let nice = Int(fields[16]) else { return nil }
            return (id, name, nice)
        }
    }

    @Test("the writer and its commit thread are named and run 10 nice levels below the process; no other thread (the DNS UDP worker, the catch-all reader, the event loops) runs below the process's priority")
    func namedAndPrioritised() async throws {
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
        let own = ["sinkhole-writer", "sinkhole-commit", "dns-udp-0", "catchall-udp"]
        // Below the main thread's priority (Dispatch may raise one of its own above it as root).
        func lowered(_ threads: [(tid: Int32, name: String, nice: Int)]) -> [String] {
            guard let base = threads.first(where: { $0.tid == pid })?.nice else { return [] }
            return threads.filter { $0.nice > base }.map(\.name).sorted()
        }
        // Ready is said once the threads are started, not once each has named itself and set
        // its priority (Foundation names a thread before its body runs): bounded wait.
        var threads = try Self.threads(of: pid)
        let deadline = ContinuousClock.now + .seconds(10)
        while !(own.allSatisfy({ name in threads.contains { $0.name == name } })
                && lowered(threads) == ["sinkhole-commit", "sinkhole-writer"]), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            threads = try Self.threads(of: pid)
        }
        let base = try #require(threads.first { $0.tid == pid }, "the main thread").nice
        for name in own {
            #expect(threads.filter { $0.name == name }.count == 1, "one \(name): \(threads)")
        }
        #expect(lowered(threads) == ["sinkhole-commit", "sinkhole-writer"], "\(threads)")
        #expect(threads.filter { $0.name.hasPrefix("sinkhole-") }.allSatisfy { $0.nice == min(base + 10, 19) }, "\(threads)")
    }
}
