import SinkholeCore
@testable import SinkholeStore
import Testing

@Suite("Deduplicator: what an open session costs")
struct OpenSessionLayoutTests {
    /// A session is held for the whole window (18M of them at 150k sessions/s and 120 s): the
    /// dictionary entry stays at 112 bytes (it was 192 when both held the bytes of addresses
    /// and family with their padding).
    @Test("a session's key is 48 bytes and its value 64")
    func layout() {
        #expect(MemoryLayout<SessionKey>.stride == 48)
        #expect(MemoryLayout<OpenSession>.stride == 64)
    }

    @Test("a committed batch's array is reused by a later batch; a holder of the old rows keeps them")
    func recycledRows() {
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        var first = fold((0..<100).map { Events.session(at: Events.at(1), sourcePort: UInt16(1000 + $0)) }, into: &dedup)
        let storage = first.checkIns.withUnsafeBufferPointer { $0.baseAddress }
        dedup.recycle(&first.checkIns)
        #expect(first.checkIns.isEmpty)
        _ = dedup.takeBatch(now: Events.at(2))  // the batch already being formed; the next one gets the array
        let second = fold([Events.session(at: Events.at(3), sourcePort: 7)], into: &dedup)
        #expect(second.checkIns.map(\.checkIn.sourcePort) == [7])
        #expect(second.checkIns.withUnsafeBufferPointer { $0.baseAddress } == storage)

        // Held elsewhere (copy-on-write), the rows stay; the deduplicator gets other storage.
        var third = fold((0..<10).map { Events.session(at: Events.at(4), sourcePort: UInt16(5000 + $0)) }, into: &dedup)
        let held = third.checkIns
        dedup.recycle(&third.checkIns)
        #expect(held.map(\.checkIn.sourcePort) == (0..<10).map { UInt16(5000 + $0) })
    }

    @Test("the key gives back the event's addresses, IPv4 and IPv6")
    func addresses() {
        for (source, destination) in [("203.0.113.7", "198.51.100.10"), ("2001:db8::7", "198.51.100.10"),
                                      ("203.0.113.7", "2001:db8:ffff::1"), ("::", "0.0.0.0")] {
            let key = SessionKey(Events.session(at: Events.at(1), source: source, destination: destination))
            #expect(key.source == Events.address(source))
            #expect(key.destination == Events.address(destination))
        }
    }
}

@Suite("Deduplicator: DNS queries")
struct DeduplicatorDNSTests {
    @Test("letter-case variants of one qname fold into one row with count, first, last and last rcode")
    func mixedCaseFolds() throws {
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        dedup.add(Events.dns(at: Events.at(100), qname: "C2.Example", rcode: 0))
        dedup.add(Events.dns(at: Events.at(300), qname: "c2.EXAMPLE", rcode: 3))
        // Arrives last but happened in between: does not move last_seen or the last rcode.
        dedup.add(Events.dns(at: Events.at(200), qname: "c2.example", rcode: 2))
        dedup.add(Events.dns(at: Events.at(50), qname: "C2.EXAMPLE", rcode: 5))
        let (batch, events) = dedup.takeBatch(now: Events.at(300))

        #expect(events == 4)
        #expect(batch.dnsQueries.count == 1)
        let (key, row) = try #require(batch.dnsQueries.first)
        #expect(key.qname.bytes == Array("c2.example".utf8))
        #expect(key.hour == Events.base.seconds)
        #expect(key.qtype == 1)
        #expect(key.source == Events.address("192.0.2.53"))
        #expect(row.count == 4)
        #expect(row.firstSeen == Events.at(50))
        #expect(row.lastSeen == Events.at(300))
        #expect(row.lastRcode == 3)
    }

    @Test("only ASCII letters are folded; other bytes and the truncation mark are kept")
    func foldingIsASCIIOnly() throws {
        let bytes: [UInt8] = [0x41, 0xC3, 0x89, 0x5A, 0x5B, 0x40, 0xFF]  // "AÉZ[@" + 0xff
        let batch = fold([Events.dns(at: Events.at(1), qnameBytes: bytes)])
        let key = try #require(batch.dnsQueries.keys.first)
        #expect(key.qname.bytes == [0x61, 0xC3, 0x89, 0x7A, 0x5B, 0x40, 0xFF])
        #expect(!key.qname.truncated)

        let long = [UInt8](repeating: 0x41, count: 300)
        let truncated = try #require(fold([Events.dns(at: Events.at(1), qnameBytes: long)]).dnsQueries.keys.first)
        #expect(truncated.qname.truncated)
        #expect(truncated.qname.bytes == [UInt8](repeating: 0x61, count: 255))
    }

    enum Split: String, CaseIterable, CustomTestStringConvertible {
        case nextHour, otherQType, otherSource, otherName
        var testDescription: String { rawValue }

        var second: CheckIn {
            switch self {
            case .nextHour: Events.dns(at: Events.at(3600))
            case .otherQType: Events.dns(at: Events.at(10), qtype: 28)
            case .otherSource: Events.dns(at: Events.at(10), source: "2001:db8::53")
            case .otherName: Events.dns(at: Events.at(10), qname: "c3.example")
            }
        }
    }

    @Test("a different UTC hour, qtype, source or name is a separate row", arguments: Split.allCases)
    func splits(_ split: Split) {
        let batch = fold([Events.dns(at: Events.at(3599)), split.second])
        #expect(batch.dnsQueries.count == 2)
        #expect(batch.dnsQueries.values.allSatisfy { $0.count == 1 })
        if split == .nextHour {
            #expect(Set(batch.dnsQueries.keys.map(\.hour)) == [Events.base.seconds, Events.base.seconds + 3600])
        }
    }

    @Test("DNS queries never produce checkins or infections rows, even with a family")
    func dnsIsNotInfectionEvidence() {
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        for i in 0..<5 {
            dedup.add(Events.dns(at: Events.at(Int64(i)), qname: "seized.example", family: "rustock"))
        }
        #expect(dedup.openSessions == 0)
        let (batch, events) = dedup.takeBatch(now: Events.at(5))
        #expect(events == 5)
        #expect(batch.checkIns.isEmpty)
        #expect(batch.infections.isEmpty)
        #expect(batch.dnsQueries.values.first?.family.text == "rustock")
        #expect(!batch.isEmpty)
    }
}

@Suite("Deduplicator: sessions")
struct DeduplicatorSessionTests {
    static let window = 120

    @Test("events of one 5-tuple inside the window merge into one row with count and last seen")
    func mergeInsideWindow() throws {
        let batch = fold([
            Events.session(at: Events.at(10), service: .tcp),
            Events.session(at: Events.at(20), service: .tcp),
            // Exactly one window after the previous event: still the same session.
            Events.session(at: Events.at(140), service: .tcp),
        ], windowSeconds: Self.window)
        #expect(batch.checkIns.count == 1)
        let row = try #require(batch.checkIns.first)
        #expect(row.count == 3)
        #expect(row.checkIn.time == Events.at(10))
        #expect(row.lastSeen == Events.at(140))
        // Readable and derived from the first event: first-seen µs, transport, 5-tuple.
        #expect(row.eventID == "\(Events.at(10).microseconds)-tcp-203.0.113.7-40000-198.51.100.10-80")
    }

    @Test("the window is measured from the session's last event, not its first")
    func windowSlides() {
        let events = (0..<5).map { Events.session(at: Events.at(Int64($0) * 100)) }
        let batch = fold(events, windowSeconds: Self.window)
        #expect(batch.checkIns.count == 1)
        #expect(batch.checkIns.first?.count == 5)
    }

    @Test("an event more than the window after the last one starts a new row with a new event id",
          arguments: [(Int64(120_000_000), 1), (Int64(120_000_001), 2)])
    func outsideWindow(gapMicros: Int64, rows: Int) {
        let first = Events.session(at: Events.at(10))
        let second = Events.session(at: UTCTime(microseconds: Events.at(10).microseconds + gapMicros))
        let batch = fold([first, second], windowSeconds: Self.window)
        #expect(batch.checkIns.count == rows)
        #expect(Set(batch.checkIns.map(\.eventID)).count == rows)
        #expect(batch.checkIns.map(\.count).reduce(0, +) == 2)
        #expect(batch.infections.values.first?.count == rows)
    }

    enum Tuple: String, CaseIterable, CustomTestStringConvertible {
        case sourcePort, source, destination, destinationPort, transport
        var testDescription: String { rawValue }

        var event: CheckIn {
            let t = Events.at(11)
            return switch self {
            case .sourcePort: Events.session(at: t, sourcePort: 40_001)
            case .source: Events.session(at: t, source: "203.0.113.8")
            case .destination: Events.session(at: t, destination: "198.51.100.11")
            case .destinationPort: Events.session(at: t, destinationPort: 8080)
            case .transport: Events.session(at: t, service: .udp, transport: .udp)
            }
        }
    }

    @Test("a difference in any part of the 5-tuple is a different session", arguments: Tuple.allCases)
    func fiveTuple(_ tuple: Tuple) {
        let batch = fold([Events.session(at: Events.at(10)), tuple.event], windowSeconds: Self.window)
        #expect(batch.checkIns.count == 2)
    }

    @Test("catch-all datagrams of one 5-tuple fold only when they repeat the first one's bytes; a different one is its own row")
    func distinctDatagramsKept() throws {
        func datagram(_ t: Int64, _ bytes: String) -> CheckIn {
            var event = Events.session(at: Events.at(t), service: .udp, transport: .udp, destinationPort: 4444)
            event.firstBytes = BoundedBytes(Array(bytes.utf8))
            return event
        }
        // A beacon repeated, then another message from the same port, then the beacon again.
        let batch = fold([datagram(10, "beacon"), datagram(20, "beacon"), datagram(30, "upload 1234"), datagram(40, "beacon")],
                         windowSeconds: Self.window)
        #expect(batch.checkIns.map { "\($0.checkIn.firstBytes.text) \($0.count)" } == ["beacon 2", "upload 1234 1", "beacon 1"])
        #expect(Set(batch.checkIns.map(\.eventID)).count == 3)
    }

    @Test("a packet event followed by the responder's takes the responder's service and fills empty detail")
    func responderEnrichesPacket() throws {
        let batch = fold([
            Events.session(at: Events.at(10), service: .packet, family: "", name: ""),
            Events.session(at: Events.at(11), service: .http, family: "rustock", name: "c2.example"),
            // A later packet (the FIN) changes nothing already filled.
            Events.session(at: Events.at(12), service: .packet, family: "conficker", name: "other.example"),
        ], windowSeconds: Self.window)
        #expect(batch.checkIns.count == 1)
        let row = try #require(batch.checkIns.first)
        #expect(row.count == 3)
        #expect(row.checkIn.service == .http)
        #expect(row.checkIn.family.text == "rustock")
        #expect(row.checkIn.name.text == "c2.example")
        #expect(row.checkIn.time == Events.at(10))
        #expect(row.lastSeen == Events.at(12))
    }

    @Test("a responder's row is not downgraded or overwritten by a later responder or packet event",
          arguments: [CheckIn.Service.tls, .tcp, .packet])
    func responderKeepsDetail(later: CheckIn.Service) throws {
        let batch = fold([
            Events.session(at: Events.at(10), service: .http, family: "rustock", name: "first.example"),
            Events.session(at: Events.at(11), service: later, family: "conficker", name: "second.example"),
        ], windowSeconds: Self.window)
        let row = try #require(batch.checkIns.first)
        #expect(batch.checkIns.count == 1)
        #expect(row.checkIn.service == .http)
        #expect(row.checkIn.family.text == "rustock")
        #expect(row.checkIn.name.text == "first.example")
    }

    @Test("a session continued in a later batch yields a delta row with the same event id and count 1")
    func continuedSessionDelta() throws {
        var dedup = Deduplicator(sessionWindowSeconds: Self.window)
        let first = fold([Events.session(at: Events.at(10), service: .packet, family: "")], into: &dedup)
        let original = try #require(first.checkIns.first)
        #expect(original.checkIn.service == .packet)

        let second = fold([Events.session(at: Events.at(15), service: .http, family: "rustock", name: "c2.example")],
                          into: &dedup)
        #expect(second.checkIns.count == 1)
        let delta = try #require(second.checkIns.first)
        #expect(delta.eventID == original.eventID)
        #expect(delta.count == 1)
        #expect(delta.checkIn.time == Events.at(10))
        #expect(delta.lastSeen == Events.at(15))
        #expect(delta.checkIn.service == .http)
        #expect(delta.checkIn.name.text == "c2.example")

        // Two more events in a third batch: one delta row counting both.
        let third = fold([Events.session(at: Events.at(16)), Events.session(at: Events.at(17))], into: &dedup)
        #expect(third.checkIns.count == 1)
        #expect(third.checkIns.first?.eventID == original.eventID)
        #expect(third.checkIns.first?.count == 2)
        #expect(third.checkIns.first?.lastSeen == Events.at(17))
    }

    @Test("sessions are forgotten once idle for longer than the window at the batch's time")
    func sessionsExpire() {
        var dedup = Deduplicator(sessionWindowSeconds: Self.window)
        dedup.add(Events.session(at: Events.at(10)))
        dedup.add(Events.session(at: Events.at(10), sourcePort: 40_001))
        dedup.add(Events.session(at: Events.at(60), sourcePort: 40_002))
        dedup.add(Events.dns(at: Events.at(60)))
        #expect(dedup.openSessions == 3)

        _ = dedup.takeBatch(now: Events.at(130))  // exactly one window after 10: kept
        #expect(dedup.openSessions == 3)
        _ = dedup.takeBatch(now: Events.at(130, micros: 1))
        #expect(dedup.openSessions == 1)
        _ = dedup.takeBatch(now: Events.at(181))
        #expect(dedup.openSessions == 0)

        // The 5-tuple comes back after expiry: a new session, not a delta of the old one.
        let batch = fold([Events.session(at: Events.at(200))], into: &dedup)
        #expect(batch.checkIns.first?.eventID.hasPrefix("\(Events.at(200).microseconds)-") == true)
        #expect(batch.infections.values.first?.count == 1)
    }

    @Test("pendingEvents counts every folded event and takeBatch hands the count over and resets it")
    func pendingEvents() {
        var dedup = Deduplicator(sessionWindowSeconds: Self.window)
        #expect(dedup.pendingEvents == 0)
        dedup.add(Events.dns(at: Events.at(1)))
        dedup.add(Events.dns(at: Events.at(2)))
        dedup.add(Events.session(at: Events.at(3)))
        dedup.add(Events.session(at: Events.at(4)))
        dedup.add(Events.session(at: Events.at(5), sourcePort: 1))
        #expect(dedup.pendingEvents == 5)
        let (batch, events) = dedup.takeBatch(now: Events.at(5))
        #expect(events == 5)
        #expect(batch.checkIns.count == 2)
        #expect(batch.dnsQueries.count == 1)
        #expect(dedup.pendingEvents == 0)
        let (empty, none) = dedup.takeBatch(now: Events.at(6))
        #expect(none == 0)
        #expect(empty.isEmpty)
        #expect(empty.counters == RunCounters())
        #expect(empty.finishedAt == nil)
    }
}

@Suite("Deduplicator: infections")
struct DeduplicatorInfectionTests {
    @Test("each new session counts once per (UTC day, source, family); continuing events do not count")
    func onePerSession() throws {
        let batch = fold([
            Events.session(at: Events.at(10), sourcePort: 1000),
            Events.session(at: Events.at(11), sourcePort: 1000),  // same session
            Events.session(at: Events.at(12), service: .tls, sourcePort: 1001, destinationPort: 443),
            Events.session(at: Events.at(13), service: .udp, transport: .udp, sourcePort: 1002, destinationPort: 9999),
        ])
        #expect(batch.infections.count == 1)
        let (key, row) = try #require(batch.infections.first)
        #expect(key.day == Events.base.seconds)
        #expect(key.family.text == "rustock")
        #expect(key.source == Events.address("203.0.113.7"))
        #expect(row.count == 3)
        #expect(row.firstSeen == Events.at(10))
        #expect(row.lastSeen == Events.at(13))
        #expect(row.lastSourcePort == 1002)
    }

    @Test("the last source port follows the latest event by time, not by arrival")
    func lastSourcePortByTime() throws {
        let batch = fold([
            Events.session(at: Events.at(50), sourcePort: 5000),
            Events.session(at: Events.at(10), sourcePort: 1000),
            Events.session(at: Events.at(30), sourcePort: 3000),
        ])
        let row = try #require(batch.infections.values.first)
        #expect(row.count == 3)
        #expect(row.firstSeen == Events.at(10))
        #expect(row.lastSeen == Events.at(50))
        #expect(row.lastSourcePort == 5000)

        // A continuing event of an older session that is now the latest moves the port.
        let later = fold([
            Events.session(at: Events.at(10), sourcePort: 1000),
            Events.session(at: Events.at(20), sourcePort: 2000),
            Events.session(at: Events.at(30), sourcePort: 1000),
        ])
        #expect(later.infections.values.first?.lastSourcePort == 1000)
        #expect(later.infections.values.first?.count == 2)
    }

    @Test("another day, source or family is another infections row")
    func splits() {
        let batch = fold([
            Events.session(at: Events.at(10), sourcePort: 1),
            Events.session(at: Events.at(86_400 + 10), sourcePort: 2),
            Events.session(at: Events.at(10), source: "2001:db8::7", sourcePort: 3),
            Events.session(at: Events.at(10), sourcePort: 4, family: "conficker"),
        ])
        #expect(batch.infections.count == 4)
        #expect(batch.infections.values.allSatisfy { $0.count == 1 })
        #expect(Set(batch.infections.keys.map(\.day)) == [Events.base.seconds, Events.base.seconds + 86_400])
    }

    @Test("a session across midnight whose events arrive out of order counts once on each day it was active")
    func midnightOutOfOrder() {
        // The responder's event just after midnight is folded first (its ring drained first),
        // then the capture engine's SYN from just before, then a later packet: one session,
        // active on both days, so one on each.
        let batch = fold([
            Events.session(at: Events.at(86_401)),
            Events.session(at: Events.at(86_399), service: .packet),
            Events.session(at: Events.at(86_402), service: .packet),
        ])
        #expect(batch.checkIns.count == 1)
        let counts = Dictionary(uniqueKeysWithValues: batch.infections.map { ($0.key.day - Events.base.seconds, $0.value.count) })
        #expect(counts == [0: 1, 86_400: 1])
    }

    @Test("traffic no family claims is kept as check-ins but is not an infection")
    func emptyFamilyIsNotAnInfection() {
        let batch = fold([
            Events.session(at: Events.at(10), service: .tcp, sourcePort: 1, family: ""),
            Events.session(at: Events.at(10), service: .packet, sourcePort: 2, family: ""),
        ])
        #expect(batch.checkIns.count == 2)
        #expect(batch.infections.isEmpty)
    }

    @Test("a session whose family is first named by the responder after a packet event counts as one infection")
    func familyFromResponderCounts() throws {
        // The capture engine sees the SYN (no family: the sinkhole address is not a seized C&C
        // address), then the HTTP responder labels the same connection from its Host header.
        let batch = fold([
            Events.session(at: Events.at(10), service: .packet, family: ""),
            Events.session(at: Events.at(10, micros: 300), service: .http, family: "rustock", name: "c2.example"),
        ])
        #expect(batch.checkIns.count == 1)
        #expect(batch.checkIns.first?.checkIn.family.text == "rustock")
        let row = try #require(batch.infections.values.first)
        #expect(row.count == 1)
    }

    @Test("a capture event stamped slightly before the responder's but drained after it joins the same session")
    func outOfOrderCaptureMerges() {
        // The writer drains ring by ring, so the responder's event (its event loop's ring) can be
        // folded before the capture thread's event for the same connection, which the kernel
        // stamped a few microseconds earlier.
        let batch = fold([
            Events.session(at: Events.at(10, micros: 250), service: .http, family: "rustock", name: "c2.example"),
            Events.session(at: Events.at(10, micros: 100), service: .packet, family: ""),
        ])
        #expect(batch.checkIns.count == 1)
        #expect(batch.infections.values.first?.count == 1)
    }
}

@Suite("Deduplicator: one row per HTTP request")
struct DeduplicatorRequestTests {
    static let window = 120

    @Test("each request of a keep-alive connection is its own row with its own detail and an id suffixed -n")
    func requestsAreRows() throws {
        let batch = fold([
            Events.request(0, at: Events.at(10), path: "/first"),
            Events.request(1, at: Events.at(11), path: "/second"),
            Events.request(2, at: Events.at(12), path: "/third"),
        ], windowSeconds: Self.window)
        #expect(batch.checkIns.map { $0.checkIn.httpPath.text } == ["/first", "/second", "/third"])
        #expect(batch.checkIns.allSatisfy { $0.count == 1 && $0.checkIn.sourcePort == 40_000 })
        let tuple = "tcp-203.0.113.7-40000-198.51.100.10-80"
        #expect(batch.checkIns.map(\.eventID) == [
            "\(Events.at(10).microseconds)-\(tuple)",
            "\(Events.at(11).microseconds)-\(tuple)-1",
            "\(Events.at(12).microseconds)-\(tuple)-2",
        ])
        // Each request is a check-in of the bot: counted in infections like a new connection.
        #expect(batch.infections.values.first?.count == 3)
    }

    @Test("packet events of the connection fold into its first request's row, whenever they are drained")
    func packetsJoinTheFirstRequest() throws {
        var syn = Events.session(at: Events.at(10), service: .packet, family: "")
        syn.firstBytes = BoundedBytes([0x02])
        let batch = fold([
            Events.request(1, at: Events.at(12), path: "/second"),  // drained before the first
            Events.request(0, at: Events.at(11), path: "/first"),
            syn,
            Events.session(at: Events.at(13), service: .packet, family: ""),  // the FIN
        ], windowSeconds: Self.window)
        #expect(batch.checkIns.count == 2)
        let first = try #require(batch.checkIns.first { $0.checkIn.requestIndex == 0 })
        #expect(first.count == 3 && first.checkIn.httpPath.text == "/first" && first.checkIn.service == .http)
        #expect(first.checkIn.time == Events.at(10) && first.lastSeen == Events.at(13))
        let second = try #require(batch.checkIns.first { $0.checkIn.requestIndex == 1 })
        #expect(second.count == 1 && second.checkIn.httpPath.text == "/second" && second.checkIn.firstBytes.isEmpty)
    }

    @Test("a request under a key that already holds one is a reused 5-tuple: a new row, in the same batch or a later one")
    func reusedTupleIsANewRow() throws {
        var dedup = Deduplicator(sessionWindowSeconds: Self.window)
        // Two connections from the same source port, each with its first request, 2 s apart.
        let first = fold([Events.request(0, at: Events.at(10), path: "/a"), Events.request(0, at: Events.at(12), path: "/b")],
                         into: &dedup)
        #expect(first.checkIns.map { "\($0.checkIn.httpPath.text) \($0.count)" } == ["/a 1", "/b 1"])
        #expect(Set(first.checkIns.map(\.eventID)).count == 2)
        #expect(first.infections.values.first?.count == 2)
        // A third connection in a later batch, and the FIN of the second: the FIN folds into
        // the newest session, the request is a new row again.
        let later = fold([Events.session(at: Events.at(13), service: .packet, family: ""),
                          Events.request(0, at: Events.at(14), path: "/c")], into: &dedup)
        #expect(later.checkIns.map { "\($0.checkIn.httpPath.text) \($0.count)" } == [" 1", "/c 1"])
        #expect(later.checkIns.first?.eventID == first.checkIns.last?.eventID, "the FIN is a delta of /b's row")
    }

    @Test("another connection's request of the same index is another row")
    func indexesArePerConnection() {
        let batch = fold([
            Events.request(1, at: Events.at(10), path: "/a", sourcePort: 40_000),
            Events.request(1, at: Events.at(10), path: "/a", sourcePort: 40_001),
        ], windowSeconds: Self.window)
        #expect(batch.checkIns.count == 2)
        #expect(Set(batch.checkIns.map(\.eventID)).count == 2)
    }
}
