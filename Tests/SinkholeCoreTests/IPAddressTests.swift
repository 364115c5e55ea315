import SinkholeCore
import Testing

@Suite("IPAddress and CIDR text forms")
struct IPAddressTests {
    @Test("IPv6 addresses print in RFC 5952 canonical form", arguments: [
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),       // §4.2.3: first of equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),    // §4.2.2: a single zero is not ::
        ("2001:DB8::A", "2001:db8::a"),                      // §4.3: lowercase
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
        ("0:0:1:0:0:0:0:1", "0:0:1::1"),                     // §4.2.3: longest run wins
        ("::ffff:198.51.100.7", "::ffff:198.51.100.7"),      // §5: mapped IPv4
        ("64:ff9b::203.0.113.5", "64:ff9b::cb00:7105"),
    ])
    func canonicalIPv6(input: String, expected: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.family == .v6)
        #expect(address.description == expected)
        #expect(IPAddress(expected) == address)
    }

    @Test("IPv4 addresses round-trip", arguments: ["0.0.0.0", "198.51.100.10", "255.255.255.255", "127.0.0.1"])
    func ipv4(input: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.family == .v4)
        #expect(address.description == input)
        #expect(IPAddress(bytes: address.bytes) == address)
    }

    @Test("malformed addresses are rejected", arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..2.3",
        ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:", "[::1]",
        "fe80::1%eth0", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "2001:db8::/32",
    ])
    func rejects(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test("IPv4 and IPv4-mapped IPv6 are different addresses")
    func familiesDiffer() throws {
        let v4 = try #require(IPAddress("198.51.100.7"))
        let mapped = try #require(IPAddress("::ffff:198.51.100.7"))
        #expect(v4 != mapped)
        #expect(v4.bytes.count == 4 && mapped.bytes.count == 16)
    }

    @Test("CIDR parses, checks host bits and matches addresses")
    func cidr() throws {
        let net = try #require(CIDR("203.0.113.0/24"))
        #expect(net.contains(try #require(IPAddress("203.0.113.255"))))
        #expect(!net.contains(try #require(IPAddress("203.0.114.0"))))
        #expect(!net.contains(try #require(IPAddress("::ffff:203.0.113.1"))))
        #expect(CIDR("203.0.113.7/24") == nil)
        #expect(CIDR("203.0.113.0/33") == nil)
        #expect(CIDR("203.0.113.0/") == nil)
        let v6 = try #require(CIDR("2001:db8:100::/40"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:1ff:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:200::1"))))
        #expect(CIDR("::/0")?.contains(try #require(IPAddress("2001:db8::1"))) == true)
        #expect(CIDR("198.51.100.10")?.prefixLength == 32)
    }
}

@Suite("Bounded detail fields and UTC time")
struct BoundedBytesAndTimeTests {
    @Test("a field keeps its first bytes and says it was cut")
    func truncation() {
        let short = BoundedBytes<8>("abc")
        #expect(short.text == "abc" && !short.truncated)
        let long = BoundedBytes<8>("0123456789")
        #expect(long.text == "01234567" && long.truncated && long.count == 8)
        #expect(BoundedBytes<8>("01234567").truncated == false)
    }

    @Test("fields compare and hash by content")
    func equality() {
        #expect(BoundedBytes<16>("x") == BoundedBytes<16>("x"))
        #expect(BoundedBytes<16>("x") != BoundedBytes<16>("y"))
        #expect(Set([BoundedBytes<16>("x"), BoundedBytes<16>("x")]).count == 1)
    }

    @Test("UTC times print as RFC 3339 and floor to hours and days", arguments: [
        (Int64(0), "1970-01-01T00:00:00.000000Z", "1970-01-01"),
        (Int64(1_774_310_400_123_456), "2026-03-24T00:00:00.123456Z", "2026-03-24"),
        (Int64(951_782_400_000_000 + 86_399_000_001), "2000-02-29T23:59:59.000001Z", "2000-02-29"),
    ])
    func times(micros: Int64, text: String, day: String) {
        let t = UTCTime(microseconds: micros)
        #expect(t.description == text)
        #expect(t.dayString == day)
        #expect(t.hourStart.seconds % 3600 == 0 && t.hourStart <= t)
        #expect(t.dayStart.dayString == day)
        // A civil date round-trips to its midnight.
        let (y, m, d, _, _, _) = t.civil
        #expect(UTCTime(year: Int64(y), month: Int64(m), day: Int64(d)) == t.dayStart)
    }

    @Test("every day from 1600 to 2400 round-trips through its civil date")
    func civilRoundTrip() {
        for day in stride(from: Int64(-135_140), through: Int64(157_067), by: 1) {
            let midnight = UTCTime(seconds: day * 86_400)
            let (y, m, d, _, _, _) = midnight.civil
            if UTCTime(year: Int64(y), month: Int64(m), day: Int64(d)) != midnight {
                Issue.record("day \(day): \(midnight) -> \(y)-\(m)-\(d)")
                return
            }
        }
    }

    // Its size is pinned with the HTTP detail's bounds in CheckInSlotTests.
    @Test("a CheckIn holds no references, so a ring copies it without retaining anything")
    func checkInIsPlainData() {
        #expect(_isPOD(CheckIn.self))
    }
}
