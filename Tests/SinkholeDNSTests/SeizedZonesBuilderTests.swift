@testable import SinkholeDNS
import Testing

@Suite("Building seized zones from bytes")
struct SeizedZonesBuilderTests {
    @Test("the eight-bytes-at-once case fold agrees with the byte fold for every byte in every position")
    func wordFold() {
        func bytewise(_ word: UInt64) -> UInt64 {
            (0..<8).reduce(0) { folded, i in
                folded | UInt64(SeizedZones.asciiLowercased(UInt8(truncatingIfNeeded: word >> (8 * i)))) << (8 * i)
            }
        }
        for position in 0..<8 {
            for byte in UInt64(0)...255 {
                for background: UInt64 in [0, 0x4141_4141_4141_4141, 0x5A5A_5A5A_5A5A_5A5A, 0xFFFF_FFFF_FFFF_FFFF, 0x6060_6060_6060_6060] {
                    let word = (background & ~(0xFF << (8 * position))) | byte << (8 * position)
                    if SeizedZones.asciiLowercased(word) != bytewise(word) {
                        Issue.record("byte \(byte) at \(position) in \(background): got \(SeizedZones.asciiLowercased(word))")
                        return
                    }
                }
            }
        }
        var rng = SeededRandom(seed: 7)
        for _ in 0..<100_000 {
            let word = rng.next()
            guard SeizedZones.asciiLowercased(word) == bytewise(word) else {
                Issue.record("random word \(word)")
                return
            }
        }
    }

    @Test("names inserted as bytes match as the same names given as text do")
    func bytesAgreeWithText() throws {
        let lists: [(String, [String])] = [
            ("first", ["Evil.Example", "c2.bad.test.", "sub.evil.example"]),
            ("second", ["EVIL.example.", "own.example", "a.b.c.d.e.f.g.h.i.j.example"]),
        ]
        let fromText = try SeizedZones(families: lists.map { SeizedFamily(name: $0.0, domains: $0.1, answers: []) })
        var builder = SeizedZones.Builder()
        for (family, names) in lists {
            builder.addFamily(name: family, answers: [])
            for name in names { _ = try builder.insert(Array(name.utf8)) }
        }
        let fromBytes = builder.build()
        #expect(fromBytes.count == fromText.count)
        #expect(fromBytes.duplicateCount == 1)
        #expect(fromBytes.families.map(\.name) == ["first", "second"])
        #expect(fromBytes.families.allSatisfy { $0.domains.isEmpty })
        for query in ["evil.example", "x.SUB.evil.example", "own.example", "x.c2.bad.test", "Z.A.B.C.D.E.F.G.H.I.J.EXAMPLE",
                      "example", "xevil.example", "b.c.d.e.f.g.h.i.j.example"] {
            #expect(fromBytes.match(query) == fromText.match(query), "\(query)")
        }
        #expect(fromBytes.match("x.evil.example")?.family == "first")
    }

    @Test("a refused name leaves nothing behind, and reports the same reason as problem(with:)",
          arguments: ["", ".", "a..example", ".example", "bad name.example", String(repeating: "a", count: 64) + ".example"])
    func refusedNameLeavesNothing(_ bad: String) throws {
        var builder = SeizedZones.Builder()
        builder.addFamily(name: "f", answers: [])
        #expect(try builder.insert("before.example".utf8))
        #expect(throws: SeizedZones.problem(with: bad)!) { try builder.insert(bad.utf8) }
        #expect(try builder.insert("after.example".utf8))
        #expect(try !builder.insert("BEFORE.example".utf8))
        let zones = builder.build()
        #expect(zones.count == 2 && zones.duplicateCount == 1)
        #expect(zones.match("x.before.example")?.apex == "before.example")
        #expect(zones.match("after.example")?.apex == "after.example")
    }

    @Test("without a reservation the table grows as names arrive, and every name stays found")
    func growsWithoutReservation() throws {
        var builder = SeizedZones.Builder()
        builder.addFamily(name: "f", answers: [])
        let names = (0..<5000).map { "n\($0).example" }
        for name in names { #expect(try builder.insert(name.utf8)) }
        let zones = builder.build()
        #expect(zones.count == names.count)
        #expect(zones.slots.count >= 2 * names.count && zones.slots.count.nonzeroBitCount == 1)
        for name in names where zones.match("www." + name)?.apex != name {
            Issue.record("\(name) lost")
            return
        }
        #expect(zones.match("n5000.example") == nil)
    }
}
