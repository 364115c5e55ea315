import SinkholeCore
import SinkholeStore
import Testing

@Suite("Capture check-ins in the deduplicator and the store (schema 6: tcp_flags, icmp_type, icmp_code)")
struct CaptureStoreTests {
    /// The capture engine's SYN of a connection to the HTTP responder.
    static func syn(at time: UTCTime) -> CheckIn {
        var event = Events.session(at: time, service: .packet, family: "")
        event.tcpFlags = 0x02
        return event
    }

    /// The HTTP responder's event for the same connection (same 5-tuple), with its detail.
    static func request(at time: UTCTime) -> CheckIn {
        var event = Events.session(at: time, service: .http, family: "rustock", name: "cc.botnet.example")
        event.httpMethod = BoundedBytes("GET")
        event.httpPath = BoundedBytes("/gate.php")
        event.httpUserAgent = BoundedBytes("bot/1.0")
        event.httpVersion = 11
        event.httpStatus = 200
        return event
    }

    @Test("the SYN and the responder's request of one connection fold into one row: the responder's detail, the packet's flags, either order")
    func synAndRequestMerge() throws {
        for events in [[Self.syn(at: Events.at(1)), Self.request(at: Events.at(2))],
                       [Self.request(at: Events.at(2)), Self.syn(at: Events.at(1))]] {
            let batch = fold(events)
            try #require(batch.checkIns.count == 1)
            let row = batch.checkIns[0]
            #expect(row.count == 2 && row.checkIn.time == Events.at(1) && row.lastSeen == Events.at(2))
            #expect(row.checkIn.service == .http && row.checkIn.family.text == "rustock")
            #expect(row.checkIn.httpMethod.text == "GET" && row.checkIn.httpUserAgent.text == "bot/1.0")
            #expect(row.checkIn.tcpFlags == 0x02)
        }
    }

    /// The capture's event for the request's first segment: HTTP detail parsed from the wire,
    /// but no status (the capture did not answer).
    static func requestSegment(at time: UTCTime) -> CheckIn {
        var event = Events.session(at: time, service: .packet, family: "rustock", name: "cc.botnet.example")
        event.httpMethod = BoundedBytes("GET")
        event.httpPath = BoundedBytes("/gate.php")
        event.httpVersion = 11
        event.tcpFlags = 0x18
        return event
    }

    @Test("the responder's HTTP detail replaces what the capture parsed from the segment, in one batch or in a later one")
    func responderDetailWins() throws {
        let batch = fold([Self.syn(at: Events.at(1)), Self.requestSegment(at: Events.at(2)), Self.request(at: Events.at(3))])
        try #require(batch.checkIns.count == 1)
        let row = batch.checkIns[0].checkIn
        #expect(row.service == .http && row.httpStatus == 200 && row.httpUserAgent.text == "bot/1.0" && row.tcpFlags == 0x1a)
        // The responder first, then the capture's segment: the responder's detail stays.
        let reversed = fold([Self.request(at: Events.at(3)), Self.requestSegment(at: Events.at(2))])
        #expect(reversed.checkIns.first?.checkIn.httpStatus == 200)

        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Self.syn(at: Events.at(1)), Self.requestSegment(at: Events.at(2))], into: &dedup), node: "n1", run: run)
        try store.write(fold([Self.request(at: Events.at(3))], into: &dedup), node: "n1", run: run)
        // A later packet event does not take it back.
        try store.write(fold([Self.requestSegment(at: Events.at(4))], into: &dedup), node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT service, count, http_status, http_user_agent, tcp_flags FROM checkins") == [
            [.text("http"), .integer(4), .integer(200), .text("bot/1.0"), .integer(0x1a)],
        ])
    }

    @Test("a DNS query read off the wire is kept as a check-in but, like the responder's, is not an infection")
    func capturedDNSIsNotAnInfection() throws {
        var query = Events.session(at: Events.at(1), service: .packet, transport: .udp, sourcePort: 5353, destinationPort: 53,
                                   family: "rustock", name: "cc.botnet.example")
        query.dnsType = 1
        let batch = fold([query, Self.syn(at: Events.at(2))])
        #expect(batch.checkIns.count == 2 && batch.checkIns[0].checkIn.dnsType == 1)
        #expect(batch.infections.isEmpty, "the SYN has no family, the query is not evidence")
    }

    @Test("the flags of every packet of a session are ORed; the first ICMP type is kept")
    func flagsAccumulate() throws {
        var data = Self.syn(at: Events.at(2))
        data.tcpFlags = 0x18
        let batch = fold([Self.syn(at: Events.at(1)), data])
        #expect(batch.checkIns.first?.checkIn.tcpFlags == 0x1a)
        var echo = Events.session(at: Events.at(1), service: .packet, transport: .icmp, sourcePort: 0, destinationPort: 0)
        echo.icmpType = 8
        var other = echo
        other.time = Events.at(2)
        other.icmpType = 13
        other.icmpCode = 1
        let icmp = fold([echo, other])
        #expect(icmp.checkIns.count == 1 && icmp.checkIns[0].checkIn.icmpType == 8 && icmp.checkIns[0].checkIn.icmpCode == 0)
    }

    @Test("stored, and a delta row in a later batch ORs the flags and fills the responder's detail into the packet's row")
    func stored() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Self.syn(at: Events.at(1))], into: &dedup), node: "n1", run: run)
        var ack = Self.request(at: Events.at(2))
        ack.tcpFlags = 0x18
        try store.write(fold([ack], into: &dedup), node: "n1", run: run)
        var echo = Events.session(at: Events.at(3), service: .packet, transport: .icmp, sourcePort: 0, destinationPort: 0)
        echo.icmpType = 8
        try store.write(fold([echo], into: &dedup), node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("""
            SELECT transport, service, count, tcp_flags, icmp_type, icmp_code, http_method, name FROM checkins ORDER BY first_seen
            """) == [
            [.text("tcp"), .text("http"), .integer(2), .integer(0x1a), .integer(0), .integer(0), .text("GET"), .text("cc.botnet.example")],
            [.text("icmp"), .text("packet"), .integer(1), .integer(0), .integer(8), .integer(0), .text(""), .text("")],
        ])
    }
}
