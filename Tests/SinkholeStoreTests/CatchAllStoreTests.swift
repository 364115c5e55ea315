import SinkholeCore
import SinkholeStore
import Testing

@Suite("Catch-all check-ins in the deduplicator and the store (schema 5)")
struct CatchAllStoreTests {
    /// A TCP connection redirected from 203.0.113.7:4444 to the catch-all on port 10000.
    static func redirected(at time: UTCTime, service: CheckIn.Service = .tcp) -> CheckIn {
        var event = Events.session(at: time, service: service, destination: "203.0.113.7", destinationPort: 4444,
                                   family: "conficker")
        event.listenerPort = 10_000
        event.redirected = true
        event.firstBytes = BoundedBytes(Array("SSH-2.0-bot".utf8))
        return event
    }

    @Test("a packet event of the same connection takes the listener's port and redirected flag, whichever comes first")
    func enrichKeepsListener() throws {
        let packet = Events.session(at: Events.at(1), service: .packet, destination: "203.0.113.7",
                                    destinationPort: 4444, family: "")
        for events in [[packet, Self.redirected(at: Events.at(2))], [Self.redirected(at: Events.at(2)), packet]] {
            let batch = fold(events)
            try #require(batch.checkIns.count == 1)
            let row = batch.checkIns[0].checkIn
            #expect(row.service == .tcp && row.listenerPort == 10_000 && row.redirected)
            #expect(row.destinationPort == 4444 && row.firstBytes.text == "SSH-2.0-bot")
        }
    }

    @Test("listener_port and redirected are stored, kept by a later delta row, and 0 for other services", arguments: StoreKind.allCases)
    func stored(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        // The packet event is committed first; the catch-all's event of the same session follows
        // in a later batch as a delta row, which must fill the columns.
        try store.write(fold([Events.session(at: Events.at(1), service: .packet, destination: "203.0.113.7",
                                             destinationPort: 4444, family: "")], into: &dedup), node: "n1", run: run)
        try store.write(fold([Self.redirected(at: Events.at(2))], into: &dedup), node: "n1", run: run)
        try store.write(fold([Events.session(at: Events.at(3), source: "203.0.113.99")], into: &dedup), node: "n1", run: run)
        let probe = try fixture.probe()
        #expect(try probe.rows("SELECT service, dst_port, listener_port, redirected, first_bytes, count FROM checkins ORDER BY first_seen") == [
            [.text("tcp"), .integer(4444), .integer(10_000), .integer(1), .text("SSH-2.0-bot"), .integer(2)],
            [.text("http"), .integer(80), .integer(0), .integer(0), .text(""), .integer(1)],
        ])
    }
}
