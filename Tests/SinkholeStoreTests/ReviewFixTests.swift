import SinkholeCore
import SinkholeStore
import Testing

/// Behaviours fixed after a review of the first version; each would silently alter the record.
@Suite("Folding and writing edge cases")
struct FoldingEdgeCaseTests {
    @Test("a session counts only under the first family it named, never a zero-count row for another")
    func oneFamilyPerSession() {
        let batch = fold([
            Events.session(at: Events.at(10), family: "rustock"),
            Events.session(at: Events.at(11), family: "conficker"),
        ])
        #expect(batch.infections.count == 1)
        #expect(batch.infections.keys.first?.family == BoundedBytes("rustock"))
        #expect(batch.infections.values.first?.count == 1)
        #expect(batch.infections.values.first?.lastSeen == Events.at(11))
    }

    @Test("a qname cut at its bound is stored apart from the complete name it starts like")
    func truncatedQnameKeptApart() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        let run = try store.beginRun(node: "n", startedAt: Events.at(0))
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: 300)
        let complete = [UInt8](repeating: UInt8(ascii: "a"), count: 255)
        var batch = fold([
            Events.dns(at: Events.at(1), qnameBytes: long),
            Events.dns(at: Events.at(2), qnameBytes: complete),
            Events.dns(at: Events.at(3), qnameBytes: long),
        ])
        #expect(batch.dnsQueries.count == 2)
        batch.counters = RunCounters(offered: 3, stored: 3, dropped: 0)
        try store.write(batch, node: "n", run: run)
        store.close()
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT qname_truncated, count FROM dns_queries ORDER BY qname_truncated")
            == [[.integer(0), .integer(1)], [.integer(1), .integer(2)]])
    }

    @Test("a wall clock stepped backwards does not hold back the next flush")
    func clockSteppedBack() throws {
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 100, flushInterval: .seconds(1))
        h.push(3, into: h.first)
        #expect(h.writer.pass() == 3)
        #expect(h.writer.committedCounters.stored == 0)
        h.clock.advance(by: .seconds(-3600))  // NTP steps the clock back an hour
        _ = h.writer.pass()
        #expect(h.writer.committedCounters.stored == 3)
    }

    @Test("each pass starts at the next ring, so an overloaded writer drains every producer")
    func ringsTakeTurns() throws {
        let h = try WriterHarness(slotsPerRing: 64, batchSize: 4, flushInterval: .seconds(1))
        h.push(8, into: h.first)
        h.push(8, into: h.second)
        _ = h.writer.pass()
        _ = h.writer.pass()
        let counts = (h.first.counts.consumed, h.second.counts.consumed)
        #expect(counts == (4, 4), "\(counts)")
    }

    @Test("a store that refuses a run never begun fails loudly instead of recording nothing")
    func writeWithoutRun() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        #expect(throws: SQLiteError.self) { try store.write(StoreBatch(), node: "n", run: 42) }
    }
}
