@testable import SinkholeStore
import SinkholeCore
import Testing

@Suite("TrafficSummary: the writer's in-memory summary of today's traffic for /status")
struct TrafficSummaryTests {
    typealias Name = TrafficSnapshot.NameCount
    typealias AS = TrafficSnapshot.ASNCount

    static func session(_ source: String, port: UInt16, family: String = "rustock", name: String = "",
                        at time: UTCTime, service: CheckIn.Service = .http) -> CheckIn {
        Events.session(at: time, service: service, source: source, sourcePort: port, family: family, name: name)
    }

    static func query(_ qname: String, from source: String, family: String, at time: UTCTime) -> CheckIn {
        Events.dns(at: time, source: source, qname: qname, family: family)
    }

    /// Family name → (per-minute count at `minute`, unique addresses).
    static func figures(_ snapshot: TrafficSnapshot, minute: Int64) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: snapshot.families.map {
            ($0.name, [$0.perMinute.count(atMinute: minute), $0.uniqueAddresses])
        })
    }

    @Test("known traffic: check-ins per minute per family, unique infected addresses, top names; no AS ranking without sourceASN")
    func knownTraffic() throws {
        let h = try StatisticsHarness()
        let start = h.clock.time
        let t = start
        #expect(h.writer.traffic == TrafficSnapshot(since: start))
        h.push([
            Self.session("203.0.113.1", port: 1, name: "C2.Rustock.Example", at: t),
            Self.session("203.0.113.1", port: 2, name: "c2.rustock.example", at: t),
            Self.session("203.0.113.2", port: 3, name: "c2.rustock.EXAMPLE", at: t),
            Self.session("203.0.113.3", port: 4, name: "backup.rustock.example", at: t),
            Self.query("a.conficker.example", from: "198.51.100.53", family: "conficker", at: t),
            Self.query("A.conficker.example", from: "198.51.100.53", family: "conficker", at: t),
            Self.query("a.conficker.example", from: "198.51.100.54", family: "conficker", at: t),
            Self.query("b.conficker.example", from: "198.51.100.54", family: "conficker", at: t),
            Self.query("www.unrelated.test", from: "198.51.100.53", family: "", at: t),
            Self.query("www.unrelated.test", from: "198.51.100.54", family: "", at: t),
            Self.session("203.0.113.9", port: 5, family: "", name: "198.51.100.10", at: t),
        ])
        #expect(h.writer.pass() == 11)
        // Nothing formed yet: nothing published.
        #expect(h.writer.traffic == TrafficSnapshot(since: start))

        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        let snapshot = h.writer.traffic
        let minute = MinuteSeries.minute(of: h.clock.time)
        #expect(snapshot.since == start && snapshot.updatedAt == h.clock.time)
        #expect(snapshot.families.map(\.name) == ["", "conficker", "rustock"])
        // DNS sources are resolvers and unlabelled traffic is mostly scanners: neither is an infection.
        #expect(Self.figures(snapshot, minute: minute) == ["": [3, 0], "conficker": [4, 0], "rustock": [4, 3]])
        #expect(snapshot.families.allSatisfy { !$0.uniqueIsEstimate })
        #expect(snapshot.families.allSatisfy { $0.perMinute.count(atMinute: minute - 1) == 0 })
        // Names lowercased; ties in family, then name order; names no family claims (the
        // unlabelled queries, the scanner's Host) are not seized names.
        #expect(snapshot.topNames == [
            Name(family: "conficker", name: "a.conficker.example", count: 3),
            Name(family: "rustock", name: "c2.rustock.example", count: 3),
            Name(family: "conficker", name: "b.conficker.example", count: 1),
            Name(family: "rustock", name: "backup.rustock.example", count: 1),
        ])
        #expect(snapshot.topASNs == nil && !snapshot.asnRankingCapped)
    }

    @Test("the snapshot is published at most once a second of writer clock, and only when something changed")
    func publishedOncePerSecond() throws {
        let h = try StatisticsHarness(batchSize: 2)
        let t0 = h.clock.time
        let minute = MinuteSeries.minute(of: t0)
        // A full batch forms at once: the first one is published at once.
        h.push([Self.session("203.0.113.1", port: 1, at: t0), Self.session("203.0.113.2", port: 2, at: t0)])
        h.writer.pass()
        #expect(h.writer.traffic.updatedAt == t0)
        #expect(Self.figures(h.writer.traffic, minute: minute) == ["rustock": [2, 2]])

        h.clock.advance(by: .milliseconds(500))
        h.push([Self.session("203.0.113.3", port: 3, at: t0), Self.session("203.0.113.4", port: 4, at: t0)])
        h.writer.pass()
        #expect(h.writer.statistics.batches == 2)
        #expect(h.writer.traffic.updatedAt == t0, "published again within the second")
        #expect(Self.figures(h.writer.traffic, minute: minute) == ["rustock": [2, 2]])

        h.clock.advance(by: .milliseconds(500))
        h.writer.pass()
        let published = h.clock.time
        #expect(h.writer.traffic.updatedAt == published)
        #expect(Self.figures(h.writer.traffic, minute: minute) == ["rustock": [4, 4]])

        // Nothing new: not published again, however long it waits.
        h.clock.advance(by: .seconds(3))
        h.writer.pass()
        #expect(h.writer.traffic.updatedAt == published)
    }

    @Test("a new UTC day resets today's figures and is published at once; the last 24 hours of minutes are kept")
    func dayRoll() throws {
        let h = try StatisticsHarness(clock: FakeClock(Events.at(86_400 - 30)))
        let start = h.clock.time
        h.push([Self.session("203.0.113.1", port: 1, name: "c2.rustock.example", at: start)])
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        let lastMinute = MinuteSeries.minute(of: h.clock.time)
        #expect(h.writer.traffic.since == start)
        #expect(Self.figures(h.writer.traffic, minute: lastMinute) == ["rustock": [1, 1]])
        #expect(h.writer.traffic.topNames == [Name(family: "rustock", name: "c2.rustock.example", count: 1)])

        // Past midnight with no traffic at all: published on the roll.
        let midnight = Events.at(86_400)
        h.clock.advance(by: .seconds(39))
        h.writer.pass()
        var snapshot = h.writer.traffic
        #expect(snapshot.since == midnight && snapshot.updatedAt == h.clock.time)
        #expect(Self.figures(snapshot, minute: lastMinute) == ["rustock": [1, 0]])
        #expect(snapshot.topNames.isEmpty)

        // A check-in from before midnight folded after it counts in the chart, not in today's
        // addresses or names; one from today counts in both.
        h.push([
            Self.session("203.0.113.2", port: 2, name: "late.rustock.example", at: Events.at(86_399)),
            Self.session("203.0.113.3", port: 3, name: "c2.rustock.example", at: h.clock.time),
        ])
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        snapshot = h.writer.traffic
        let now = MinuteSeries.minute(of: h.clock.time)
        #expect(snapshot.since == midnight)
        #expect(Self.figures(snapshot, minute: now) == ["rustock": [2, 1]])
        #expect(snapshot.families[0].perMinute.count(atMinute: lastMinute) == 1)
        #expect(snapshot.topNames == [Name(family: "rustock", name: "c2.rustock.example", count: 1)])
    }

    @Test("top source ASes count distinct infected addresses today, one sourceASN call per new address")
    func sourceASes() throws {
        let calls = Recorded<String>()
        let h = try StatisticsHarness(configure: {
            $0.sourceASN = { address in
                calls.append(address.description)
                guard address.description.hasPrefix("203.0.113.") else { return nil }
                let last = Int(address.description.split(separator: ".").last!)!
                return last < 128 ? 64_500 : 64_501
            }
        })
        let t = h.clock.time
        h.push([
            Self.session("203.0.113.1", port: 1, at: t), Self.session("203.0.113.1", port: 2, at: t),
            Self.session("203.0.113.1", port: 3, at: t), Self.session("203.0.113.2", port: 4, at: t),
            Self.session("203.0.113.200", port: 5, at: t), Self.session("203.0.113.200", port: 6, at: t),
            Self.session("198.51.100.7", port: 7, at: t),
            // The same bot in a second family: one address, ranked once.
            Self.session("203.0.113.1", port: 8, family: "conficker", at: t),
            // DNS sources are resolvers: never looked up.
            Self.query("a.conficker.example", from: "203.0.113.53", family: "conficker", at: t),
        ])
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(calls.values.sorted() == ["198.51.100.7", "203.0.113.1", "203.0.113.2", "203.0.113.200"])
        #expect(h.writer.traffic.topASNs == [AS(asn: 64_500, count: 2), AS(asn: 64_501, count: 1)])
        #expect(Self.figures(h.writer.traffic, minute: MinuteSeries.minute(of: h.clock.time))["rustock"]?[1] == 4)

        // Known addresses again and one new one: only the new one is looked up.
        h.push([
            Self.session("203.0.113.1", port: 9, at: h.clock.time), Self.session("203.0.113.2", port: 10, at: h.clock.time),
            Self.session("203.0.113.3", port: 11, at: h.clock.time),
        ])
        h.clock.advance(by: .seconds(1))
        h.writer.pass()
        #expect(calls.values.count == 5)
        #expect(h.writer.traffic.topASNs == [AS(asn: 64_500, count: 3), AS(asn: 64_501, count: 1)])
    }

    @Test("the AS ranking stops at asnAddressLimit addresses a day and says so")
    func asnRankingCap() {
        let limit = TrafficSummary.asnAddressLimit
        let day = Events.at(86_400)
        var summary = TrafficSummary(start: day, sourceASN: { _ in 64_500 })
        var batch = StoreBatch()
        let row = InfectionRow(firstSeen: day, lastSeen: day, count: 1, lastSourcePort: 1)
        for i in 0...limit {
            let address = IPAddress(ipv4: 0x0A00_0000 | UInt32(i))
            batch.infections[InfectionKey(day: day.seconds, source: address, family: BoundedBytes("rustock"))] = row
        }
        summary.add(batch, at: day)
        let snapshot = summary.snapshot(at: day)
        #expect(snapshot.topASNs == [AS(asn: 64_500, count: limit)])
        #expect(snapshot.asnRankingCapped)
        // The family's own count is not capped (exact, then estimated).
        #expect(snapshot.families.count == 1 && snapshot.families[0].uniqueIsEstimate)
        let unique = Double(snapshot.families[0].uniqueAddresses)
        #expect(abs(unique - Double(limit + 1)) < Double(limit) * 0.03)
    }
}
