import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

@Suite("Seized targets: family from a Host header, else from the address reached")
struct SeizedTargetsTests {
    static let seizedAddress = IPAddress("198.51.100.7")!
    static let other = IPAddress("198.51.100.8")!

    static func targets() throws -> SeizedTargets {
        let zones = try SeizedZones(families: [SeizedFamily(name: "rustock", domains: ["evil.example", "1.2.example"], answers: [])])
        return SeizedTargets(zones: zones, addresses: [seizedAddress: "conficker"])
    }

    @Test("a Host naming a seized name (any case, port, trailing dot, subdomain) gives its family", arguments: [
        "evil.example", "cc.Evil.EXAMPLE", "evil.example:8080", "evil.example.", "evil.example.:80",
        "10.20.evil.example", "www.1.2.example",
    ])
    func seizedHost(host: String) throws {
        #expect(try Self.targets().family(host: BoundedBytes(host), destination: Self.other).text == "rustock")
    }

    @Test("an IP literal, an empty or invalid name, or one not seized gives the address's family", arguments: [
        "", ":80", "127.0.0.1", "127.0.0.1:8080", "[2001:db8::1]:80", "[::1]", "1.2", "a..evil.example",
        ".evil.example", "evil.example..", String(repeating: "a", count: 64) + ".evil.example",
        String(repeating: "a.", count: 127) + "evil.example", "example", "www.example.com",
    ])
    func notSeizedHost(host: String) throws {
        let targets = try Self.targets()
        #expect(targets.family(host: BoundedBytes(host), destination: Self.seizedAddress).text == "conficker")
        #expect(targets.family(host: BoundedBytes(host), destination: Self.other).text == "")
    }
}

@Suite("HTTP Date line")
struct HTTPDateLineTests {
    @Test("IMF-fixdate for the epoch, a leap day, a year's last second and today's kind of date", arguments: [
        (Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
        (1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT"),
        (1_750_000_000, "Sun, 15 Jun 2025 15:06:40 GMT"),
        (1_795_963_200, "Sun, 29 Nov 2026 14:40:00 GMT"),
    ])
    func dateLine(seconds: Int64, text: String) {
        #expect(HTTPResponses.dateLine(UTCTime(seconds: seconds, microseconds: 999_999)) == "Date: \(text)\r\n")
    }
}
