import SinkholeCore
import SinkholeStore
import Testing

@Suite("CheckInTally: every drained event counted by service and family, rcode and status")
struct CheckInTallyTests {
    typealias SF = CheckInTally.ServiceFamily
    typealias DNS = CheckInTally.DNSResponse
    typealias HTTP = CheckInTally.HTTPResponse

    static func dns(_ qname: String, rcode: UInt8, family: String = "", transport: CheckIn.Transport = .udp,
                    rateLimited: Bool = false, source: String = "198.51.100.53", port: UInt16 = 5353) -> CheckIn {
        var event = Events.dns(at: Events.at(3600), source: source, sourcePort: port, qname: qname, rcode: rcode, family: family)
        event.transport = transport
        event.rateLimited = rateLimited
        return event
    }

    static func http(_ service: CheckIn.Service, status: UInt16, family: String = "example", port: UInt16) -> CheckIn {
        var event = Events.session(at: Events.at(3600), service: service, sourcePort: port,
                                   destinationPort: service == .tls ? 443 : 80, family: family, name: "c2.example.com")
        event.httpStatus = status
        return event
    }

    /// The known traffic: 3 seized A queries (NOERROR), 2 not seized (REFUSED), 1 FORMERR, 1 over
    /// TCP, 1 rate limited, 1 with no response; 2 HTTP 200 and 1 HTTP 431, a TLS session with a
    /// request (200) and one without (0); a catch-all datagram and a captured packet.
    static let traffic: [CheckIn] = [
        dns("a.c2.example.com", rcode: 0, family: "example", port: 1),
        dns("b.c2.example.com", rcode: 0, family: "example", port: 2),
        dns("a.c2.example.com", rcode: 0, family: "example", port: 3),
        dns("www.unrelated.test", rcode: 5, port: 4),
        dns("mail.unrelated.test", rcode: 5, port: 5),
        dns("\u{1}bad", rcode: 1, port: 6),
        dns("c.c2.example.com", rcode: 0, family: "example", transport: .tcp, port: 7),
        dns("a.c2.example.com", rcode: 0, family: "example", rateLimited: true, port: 8),
        dns("short", rcode: CheckIn.noResponse, port: 9),
        http(.http, status: 200, port: 40_001),
        http(.http, status: 200, port: 40_002),
        http(.http, status: 431, port: 40_003),
        http(.tls, status: 200, port: 40_004),
        http(.tls, status: 0, port: 40_005),
        Events.session(at: Events.at(3600), service: .udp, transport: .udp, sourcePort: 40_006, destinationPort: 9000, family: ""),
        Events.session(at: Events.at(3600), service: .packet, sourcePort: 40_007, destinationPort: 22, family: "example"),
    ]

    static let expectedCheckIns: [SF: Int] = [
        SF(service: .dns, family: "example"): 5, SF(service: .dns, family: ""): 4,
        SF(service: .http, family: "example"): 3, SF(service: .tls, family: "example"): 2,
        SF(service: .udp, family: ""): 1, SF(service: .packet, family: "example"): 1,
    ]
    static let expectedDNS: [DNS: Int] = [
        DNS(transport: .udp, rcode: 0): 4, DNS(transport: .tcp, rcode: 0): 1,
        DNS(transport: .udp, rcode: 5): 2, DNS(transport: .udp, rcode: 1): 1,
        DNS(transport: .udp, rcode: CheckIn.noResponse): 1,
    ]
    static let expectedHTTP: [HTTP: Int] = [
        HTTP(service: .http, status: 200): 2, HTTP(service: .http, status: 431): 1,
        HTTP(service: .tls, status: 200): 1, HTTP(service: .tls, status: 0): 1,
    ]

    /// `events` tallied as the writer does: responses per event, check-ins from the batch they
    /// fold into.
    static func tallied(_ events: [CheckIn]) -> CheckInTally {
        var tally = CheckInTally()
        var deduplicator = Deduplicator(sessionWindowSeconds: 120)
        for event in events {
            tally.count(event)
            deduplicator.add(event)
        }
        tally.add(deduplicator.takeBatch(now: Events.at(3601)).batch.summary)
        return tally
    }

    @Test("a writer's tally of known traffic: exact counts per service and family, rcode and transport, status")
    func knownTrafficThroughTheWriter() throws {
        let h = try StatisticsHarness()
        h.push(Self.traffic)
        // Published with the batch the events fold into, not pass by pass.
        #expect(h.writer.pass() == Self.traffic.count)
        #expect(h.writer.statistics.tally == CheckInTally())
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(h.writer.statistics.counters.stored == Self.traffic.count)
        let tally = h.writer.statistics.tally
        #expect(tally.checkIns == Self.expectedCheckIns)
        #expect(tally.dnsResponses == Self.expectedDNS)
        #expect(tally.httpResponses == Self.expectedHTTP)

        // A second round doubles every count.
        h.push(Self.traffic)
        h.writer.pass()
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        let doubled = h.writer.statistics.tally
        #expect(doubled.checkIns == Self.expectedCheckIns.mapValues { $0 * 2 })
        #expect(doubled.dnsResponses == Self.expectedDNS.mapValues { $0 * 2 })
        #expect(doubled.httpResponses == Self.expectedHTTP.mapValues { $0 * 2 })
    }

    @Test("the statuses of the HTTP and TLS services add up to their check-ins")
    func statusesAddUp() {
        let tally = Self.tallied(Self.traffic)
        for service in [CheckIn.Service.http, .tls] {
            let statuses = tally.httpResponses.filter { $0.key.service == service }.values.reduce(0, +)
            let checkIns = tally.checkIns.filter { $0.key.service == service }.values.reduce(0, +)
            #expect(statuses == checkIns)
        }
    }

    @Test("a status past three digits is counted all the same", arguments: [UInt16(599), 600, 999, 65_535])
    func oddStatus(_ status: UInt16) {
        var tally = CheckInTally()
        tally.count(Self.http(.http, status: status, port: 1))
        tally.count(Self.http(.http, status: status, port: 2))
        #expect(tally.httpResponses == [HTTP(service: .http, status: status): 2])
    }

    @Test("equal tallies compare equal whatever order their families were first seen in")
    func equalityIgnoresFamilyOrder() {
        let forward = Self.tallied(Self.traffic)
        var backward = Self.tallied(Self.traffic.reversed())
        #expect(forward == backward)
        backward.count(Self.dns("x.c2.example.com", rcode: 0, family: "example", port: 99))
        #expect(forward != backward)
    }

    @Test("families that share a prefix, or differ only in length, are counted apart")
    func familiesApart() {
        var events: [CheckIn] = []
        for (family, times) in [("rust", 1), ("rustock", 2), ("rustock2", 3), ("", 4)] {
            for port in 0..<times {
                events.append(Self.http(.http, status: 200, family: family, port: UInt16(port)))
            }
        }
        let tally = Self.tallied(events)
        #expect(tally.checkIns == [SF(service: .http, family: "rust"): 1, SF(service: .http, family: "rustock"): 2,
                                   SF(service: .http, family: "rustock2"): 3, SF(service: .http, family: ""): 4])
    }
}
