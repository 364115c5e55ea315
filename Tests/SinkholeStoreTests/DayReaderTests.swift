import SinkholeCore
@testable import SinkholeStore
import Testing

/// The feeds' reading of one UTC day, from both stores: the same records in the same order,
/// network bytes as stored, whatever the page size.
@Suite("Day readers (SQLite and PostgreSQL): what the feeds read back")
struct DayReaderTests {
    static func reader(_ under: StoreUnderTest, pageSize: Int = 5_000) throws -> any StoredDayReader {
        switch under.kind {
        case .sqlite: try SQLiteDayReader(path: under.path)
        case .postgres: try PostgresDayReader(location: under.location, pageSize: pageSize)
        }
    }

    /// Sessions from three sources over two days, HTTP bytes a bot could send, DNS rows, and a
    /// session with no family (which no feed reads).
    static var events: [CheckIn] {
        var events: [CheckIn] = []
        for i in 0..<7 {
            var event = Events.request(0, at: Events.at(Int64(10 + i)), path: "/p\(i)", sourcePort: UInt16(40_000 + i))
            event.httpPath = BoundedBytes([0x2F, 0x0D, 0x0A, 0x00, 0xFF, UInt8(0x30 + i)])
            event.httpUserAgent = BoundedBytes("UA \"\(i)\"")
            events.append(event)
        }
        var tls = Events.session(at: Events.at(20), service: .tls, source: "2001:db8::7", sourcePort: 50_000, destinationPort: 443,
                                 family: "conficker", name: "x.conficker.example")
        tls.tlsServerName = BoundedBytes("x.conficker.example")
        events.append(tls)
        events.append(Events.session(at: Events.at(30), service: .tcp, source: "203.0.113.9", sourcePort: 1, destinationPort: 23, family: ""))
        events.append(Events.session(at: Events.at(86_400 + 5), source: "203.0.113.8", sourcePort: 2))
        for i in 0..<5 {
            events.append(Events.dns(at: Events.at(Int64(100 + i)), source: "198.51.100.\(50 + i % 2)", sourcePort: UInt16(5000 + i),
                                     qname: "q\(i % 3).conficker.example", family: "conficker"))
        }
        events.append(Events.dns(at: Events.at(200), source: "198.51.100.50", qname: "www.example.com", rcode: 5, family: ""))
        return events
    }

    @Test("both stores give the same day, in the same order, across pages", arguments: StoreKind.allCases)
    func sameRecords(kind: StoreKind) throws {
        let under = try StoreUnderTest(kind)
        let store = try under.open()
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        try store.write(fold(Self.events), node: "n1", run: run)
        store.close()

        // Pages of 2 make every kind of row cross page boundaries.
        let reader = try Self.reader(under, pageSize: 2)
        var checkIns: [StoredCheckIn] = []
        var dns: [StoredDNSQuery] = []
        var infections: [StoredInfection] = []
        try reader.forEachCheckIn(day: Events.at(3600)) { checkIns.append($0) }
        try reader.forEachDNSQuery(day: Events.at(3600)) { dns.append($0) }
        try reader.forEachInfection(day: Events.at(3600)) { infections.append($0) }
        let counts = try reader.counts(day: Events.at(3600))
        #expect(counts.checkIns == checkIns.count && counts.dnsQueries == dns.count && counts.infections == infections.count)

        #expect(checkIns.map(\.sourcePort) == [40_000, 40_001, 40_002, 40_003, 40_004, 40_005, 40_006, 50_000])
        #expect(checkIns[0].httpPath == [0x2F, 0x0D, 0x0A, 0x00, 0xFF, 0x30], "bytes as the bot sent them")
        #expect(checkIns[3].httpUserAgent == Array("UA \"3\"".utf8))
        #expect(checkIns[0].httpMethod == Array("GET".utf8) && checkIns[0].httpVersion == "")
        #expect(checkIns[7].source == IPAddress("2001:db8::7")! && checkIns[7].tlsServerName == Array("x.conficker.example".utf8))
        #expect(checkIns.allSatisfy { !$0.family.isEmpty && $0.node == "n1" })
        #expect(Set(checkIns.map(\.eventID)).count == 8)

        #expect(dns.map { String(decoding: $0.qname, as: UTF8.self) } ==
                ["q0.conficker.example", "q1.conficker.example", "q2.conficker.example", "q0.conficker.example", "q1.conficker.example"])
        #expect(dns.map(\.count) == [1, 1, 1, 1, 1])
        #expect(dns.map(\.lastSourcePort) == [5000, 5004, 5002, 5003, 5001])
        #expect(dns.allSatisfy { $0.qtype == 1 && $0.family == "conficker" })
        #expect(infections.map { "\($0.source) \($0.family) \($0.lastSourcePort)" } ==
                ["2001:db8::7 conficker 50000", "203.0.113.7 rustock 40006"])

        // The next day holds only the late session.
        var later: [StoredCheckIn] = []
        try reader.forEachCheckIn(day: Events.at(86_400)) { later.append($0) }
        #expect(later.map(\.sourcePort) == [2])
    }
}
