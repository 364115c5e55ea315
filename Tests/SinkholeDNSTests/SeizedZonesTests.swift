import SinkholeCore
import SinkholeDNS
import Testing

@Suite("Matching names against seized zones")
struct SeizedZonesTests {
    @Test("a seized name covers itself and its subdomains, in any letter case",
          arguments: [
            ("evil.example", "evil.example"),
            ("EVIL.Example", "evil.example"),
            ("evil.example.", "evil.example"),
            ("a.b.c.d.e.f.evil.example", "evil.example"),
            ("WWW.eViL.EXAMPLE", "evil.example"),
            ("c2.bad.test", "c2.bad.test"),
            ("x.C2.BAD.TEST.", "c2.bad.test"),
          ])
    func covered(_ name: String, _ apex: String) throws {
        let match = try #require(try Fixtures.zones().match(name))
        #expect(match.apex == apex)
        #expect(match.family == "rustock")
        #expect(match.familyIndex == 0)
    }

    @Test("names that only share text, not labels, with a seized name are not covered",
          arguments: [
            "xevil.example", "evil.example.com", "evil.examplex", "example", "evil.example2",
            "bad.test", "c3.bad.test", "evil.org", ".", "", "a..evil.example",
          ])
    func notCovered(_ name: String) throws {
        #expect(try Fixtures.zones().match(name) == nil)
    }

    @Test("the longest seized suffix wins, so a seized subdomain keeps its own family")
    func longestSuffix() throws {
        let zones = try Fixtures.zones()
        let deep = try #require(zones.match("a.SUB.evil.example"))
        #expect(deep.family == "conficker")
        #expect(deep.familyIndex == 1)
        #expect(deep.apex == "sub.evil.example")
        #expect(zones.match("other.evil.example")?.family == "rustock")
    }

    @Test("a name listed by two families belongs to the first in configuration order")
    func firstFamilyWins() throws {
        let zones = try SeizedZones(families: [
            SeizedFamily(name: "first", domains: ["Shared.Example"], answers: []),
            SeizedFamily(name: "second", domains: ["shared.example.", "own.example"], answers: []),
        ])
        #expect(zones.match("x.shared.example")?.family == "first")
        #expect(zones.match("own.example")?.family == "second")
        #expect(zones.count == 2)
        #expect(zones.duplicateCount == 1)
    }

    @Test("matching a parsed DNSName agrees with matching its text")
    func dnsNameMatch() throws {
        let zones = try Fixtures.zones()
        let name = try #require(DNSName(labels: ["Deep", "C2", "bad", "TEST"].map { Array($0.utf8) }))
        #expect(zones.match(name) == zones.match("deep.c2.bad.test"))
        #expect(zones.match(name)?.apex == "c2.bad.test")
        #expect(zones.match(DNSName.root) == nil)
    }

    @Test("invalid domains are refused with the family, the domain and the reason",
          arguments: [
            ("", InvalidSeizedDomain.Reason.empty),
            (".", .empty),
            ("a..example", .emptyLabel),
            (".example", .emptyLabel),
            ("example..", .emptyLabel),
            (String(repeating: "a", count: 64) + ".example", .labelTooLong),
            (Array(repeating: String(repeating: "a", count: 49), count: 6).joined(separator: "."), .nameTooLong),
            ("bad domain.example", .invalidCharacter),
            ("bäd.example", .invalidCharacter),
            ("bad\\046.example", .invalidCharacter),
          ])
    func invalidDomain(_ domain: String, _ reason: InvalidSeizedDomain.Reason) {
        let families = [
            SeizedFamily(name: "ok", domains: ["fine.example"], answers: []),
            SeizedFamily(name: "broken", domains: ["fine2.example", domain], answers: []),
        ]
        #expect(throws: InvalidSeizedDomain(family: "broken", domain: domain, reason: reason)) {
            try SeizedZones(families: families)
        }
    }

    @Test("a 253-character name is accepted, with or without its trailing dot")
    func longestValidName() throws {
        let text = [63, 63, 63, 61].map { String(repeating: "a", count: $0) }.joined(separator: ".")
        #expect(text.count == 253)
        let zones = try SeizedZones(families: [SeizedFamily(name: "f", domains: [text + "."], answers: [])])
        #expect(zones.match(text.uppercased())?.apex == text)
    }

    @Test("100,000 generated names are each found, with their subdomains, and near misses aren't")
    func manyNames() throws {
        var rng = SeededRandom(seed: 42)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789-".utf8)
        func label(_ length: Int) -> String {
            String(decoding: (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }, as: UTF8.self)
        }
        var names = Set<String>()
        while names.count < 100_000 { names.insert("q" + label(12) + "." + ["com", "net", "example"][names.count % 3]) }
        let list = Array(names)
        let half = list.count / 2
        let zones = try SeizedZones(families: [
            SeizedFamily(name: "dga-a", domains: Array(list[..<half]), answers: []),
            SeizedFamily(name: "dga-b", domains: Array(list[half...]), answers: []),
        ])
        #expect(zones.count == list.count)
        for (i, name) in list.enumerated() {
            let family = i < half ? "dga-a" : "dga-b"
            guard let match = zones.match(i % 2 == 0 ? name.uppercased() : "x.y." + name),
                  match.family == family, match.apex == name else {
                Issue.record("\(name) not matched as \(family)")
                return
            }
            // A near miss: same text with one more character in front of the first label.
            if names.contains("z" + name) == false, zones.match("z" + name) != nil {
                Issue.record("z\(name) matched")
                return
            }
        }
    }
}
