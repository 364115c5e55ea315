import Foundation
import NIOCore
import NIOPosix
import SinkholeCore
import SinkholeDNS
import SinkholeServer
import Testing

@Suite("Seized domain lists on disk")
struct DomainListTests {
    let day = UTCTime(seconds: 1_774_310_400 + 3600)  // 2026-03-24 01:00 UTC

    @Test("a per-day pattern stands for yesterday's, today's and tomorrow's list (UTC)")
    func perDayPaths() {
        #expect(DomainList.paths(for: "/lists/c/%Y-%m-%d.txt", on: day)
            == ["/lists/c/2026-03-23.txt", "/lists/c/2026-03-24.txt", "/lists/c/2026-03-25.txt"])
        #expect(DomainList.paths(for: "/lists/%Y/%m/100%%-%d", on: UTCTime(seconds: 1_767_225_599))  // 2025-12-31 23:59:59
            == ["/lists/2025/12/100%-30", "/lists/2025/12/100%-31", "/lists/2026/01/100%-01"])
        #expect(DomainList.paths(for: "/lists/fixed.txt", on: day) == ["/lists/fixed.txt"])
    }

    @Test("comments, blank lines, CRLF, trailing dots and Unicode names are handled")
    func parsing() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("list.txt").path
        try "# header\r\nA.example\r\n\n  b.example.  # trailing comment\nc_d.example\nBücher.example\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let parsed = try DomainList.parse(file: file)
        #expect(parsed.names == ["A.example", "b.example.", "c_d.example", "xn--bcher-kva.example"])
        #expect(parsed.skipped.isEmpty)
    }

    @Test("a line that is not a usable name is skipped and reported with its file and line")
    func badLinesSkipped() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("list.txt").path
        try "ok.example\nbad name.example\nx..example\n\(String(repeating: "a", count: 64)).example\nalso-ok.example\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let parsed = try DomainList.parse(file: file)
        #expect(parsed.names == ["ok.example", "also-ok.example"])
        #expect(parsed.skipped.map(\.line) == [2, 3, 4])
        #expect(parsed.skipped.allSatisfy { "\($0)".hasPrefix("\(file):") })
        #expect("\(parsed.skipped[1])".contains("empty label"))
    }

    @Test("loading into a builder skips the same lines and indexes the same names as loading them as text")
    func loadIntoBuilder() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "# header\r\nA.example\r\n\n  b.example.  # comment\nBücher.example\nbad name.example\nx..example\na.example\n"
            .write(to: dir.appendingPathComponent("2026-03-23.txt"), atomically: true, encoding: .utf8)
        var bytes = Array("ok.example\n".utf8) + [0xC3, 0x28] + Array(".example\nB.EXAMPLE\n".utf8)
        bytes += Array((String(repeating: "a", count: 64) + ".example\n").utf8)
        try Data(bytes).write(to: dir.appendingPathComponent("2026-03-24.txt"))
        let pattern = dir.appendingPathComponent("%Y-%m-%d.txt").path

        let asText = try DomainList.load(patterns: [pattern], on: day)
        var builder = SeizedZones.Builder()
        builder.addFamily(name: "dga", answers: [])
        let indexed = try DomainList.load(patterns: [pattern], on: day, into: &builder)
        let zones = builder.build()

        #expect(indexed.names == asText.names.count)
        #expect(indexed.missing == asText.missing)
        #expect(indexed.skipped.map(\.description) == asText.skipped.map(\.description))
        #expect(indexed.skipped.map(\.line) == [6, 7, 2, 4])
        #expect(asText.names.count == 6)
        // a.example, b.example, xn--bcher-kva.example, ok.example; A.example and B.EXAMPLE again.
        #expect(zones.count == 4 && zones.duplicateCount == 2)
        for name in asText.names {
            #expect(zones.match("www." + name)?.family == "dga", "\(name)")
        }
        #expect(zones.match("xn--bcher-kva.example") != nil)
    }

    @Test("a missing fixed list is an error; missing per-day lists are skipped unless all three are")
    func missingLists() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: DomainList.LoadError.self) {
            try DomainList.load(patterns: [dir.appendingPathComponent("nope.txt").path], on: day)
        }
        let pattern = dir.appendingPathComponent("%Y-%m-%d.txt").path
        #expect(throws: DomainList.LoadError.self) { try DomainList.load(patterns: [pattern], on: day) }
        try "today.example\n".write(to: dir.appendingPathComponent("2026-03-24.txt"), atomically: true, encoding: .utf8)
        try "yesterday.example\n".write(to: dir.appendingPathComponent("2026-03-23.txt"), atomically: true, encoding: .utf8)
        let loaded = try DomainList.load(patterns: [pattern], on: day)
        #expect(loaded.skipped.isEmpty)
        #expect(loaded.names == ["yesterday.example", "today.example"])
        #expect(loaded.missing == [dir.appendingPathComponent("2026-03-25.txt").path])
    }
}

@Suite("One ring per event loop")
struct EventLoopRingsTests {
    @Test("each event loop of a real group gets its own ring, and pushes from its thread land there")
    func ringPerLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let registry = EventRings<CheckIn>(slotsPerRing: 1024, filler: CheckIn(
            time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0,
            transport: .udp, service: .dns))
        let rings = EventLoopRings(group: group, registry: registry)
        let loops = Array(group.makeIterator())
        #expect(registry.all.count == 3)
        #expect(Set(loops.map { ObjectIdentifier(rings.ring(for: $0)) }).count == 3)
        for (index, loop) in loops.enumerated() {
            try await loop.submit {
                for _ in 0...index {
                    rings.ring(for: loop).push(CheckIn(time: UTCTime(microseconds: 1), source: .zero, sourcePort: UInt16(index),
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .dns))
                }
            }.get()
        }
        for (index, loop) in loops.enumerated() {
            var ports: [UInt16] = []
            rings.ring(for: loop).drain { ports.append($0.sourcePort) }
            #expect(ports == Array(repeating: UInt16(index), count: index + 1))
        }
        // A dedicated thread (the capture thread, later) registers the same way.
        let extra = registry.register(name: "capture-test")
        #expect(registry.all.last === extra)
        try await group.shutdownGracefully()
    }
}
