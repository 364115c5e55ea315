import SinkholeCore
import Testing

@Suite("AddressCardinality: unique infected addresses today")
struct AddressCardinalityTests {
    let today = UTCTime(year: 2026, month: 11, day: 29)

    /// Distinct IPv4 addresses from 10.0.0.0 on (only counted, never contacted).
    func address(_ i: Int) -> IPAddress { IPAddress(ipv4: 0x0A00_0000 &+ UInt32(i)) }

    @Test("counts are exact up to 65,536 addresses and repeated addresses count once")
    func exactBelowLimit() {
        var unique = AddressCardinality(day: today)
        for i in 0..<AddressCardinality.defaultExactLimit {
            #expect(unique.insert(address(i)) == true)
        }
        #expect(unique.insert(address(7)) == false)
        #expect(unique.count == 65_536)
        #expect(!unique.isEstimate)
        // One more distinct address passes the limit: still reported as new, then estimating.
        #expect(unique.insert(IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: 7)) == true)
        #expect(unique.isEstimate)
        #expect(unique.count >= 65_537)
    }

    @Test("IPv4 a.b.c.d and IPv4-mapped ::ffff:a.b.c.d are different addresses")
    func familiesDistinct() throws {
        var unique = AddressCardinality(day: today)
        unique.insert(try #require(IPAddress("198.51.100.7")))
        unique.insert(try #require(IPAddress("::ffff:198.51.100.7")))
        unique.insert(try #require(IPAddress("198.51.100.7")))
        #expect(unique.count == 2)
        #expect(!unique.isEstimate)
    }

    @Test("past the limit the count becomes an estimate that never drops below what was known exactly")
    func switchesToEstimate() {
        var unique = AddressCardinality(day: today, exactLimit: 1000)
        for i in 0..<1000 { unique.insert(address(i)) }
        #expect(!unique.isEstimate)
        #expect(unique.count == 1000)
        #expect(unique.insert(address(1000)) == true)
        #expect(unique.isEstimate)
        #expect(unique.count >= 1001)
        #expect(unique.insert(address(5)) == nil)
        #expect(unique.insert(address(5000)) == nil)
    }

    @Test("the estimate of 1M and of 100k distinct addresses is within three standard errors (±2.5 %)", arguments: [100_000, 1_000_000])
    func estimateWithinError(distinct: Int) {
        var unique = AddressCardinality(day: today)
        for i in 0..<distinct {
            unique.insert(address(i))
            // Repeats do not move the estimate.
            if i % 4 == 0 { unique.insert(address(i / 2)) }
        }
        #expect(unique.isEstimate)
        let error = abs(Double(unique.count - distinct)) / Double(distinct)
        #expect(AddressCardinality.standardError < 0.0082)
        #expect(error <= 3 * AddressCardinality.standardError, "estimate \(unique.count) for \(distinct)")
    }

    @Test("IPv6 sources spread across /64s are estimated as well as IPv4")
    func ipv6Estimate() {
        var unique = AddressCardinality(day: today, exactLimit: 1000)
        let distinct = 200_000
        for i in 0..<distinct {
            unique.insert(IPAddress(ipv6High: 0x2001_0db8_0000_0000 | UInt64(i >> 4), low: UInt64(i & 15)))
        }
        let error = abs(Double(unique.count - distinct)) / Double(distinct)
        #expect(error <= 3 * AddressCardinality.standardError, "estimate \(unique.count)")
    }

    @Test("reset at UTC midnight forgets yesterday, exact again")
    func resetForDay() {
        var unique = AddressCardinality(day: today.advanced(hours: 13), exactLimit: 10)
        #expect(unique.day == today)
        for i in 0..<50 { unique.insert(address(i)) }
        #expect(unique.isEstimate)
        let tomorrow = UTCTime(year: 2026, month: 11, day: 30)
        unique.reset(forDay: tomorrow.advanced(hours: 0))
        #expect(unique.day == tomorrow)
        #expect(!unique.isEstimate)
        #expect(unique.count == 0)
        #expect(unique.insert(address(3)) == true)
        #expect(unique.count == 1)
    }
}

private extension UTCTime {
    func advanced(hours: Int64) -> UTCTime { UTCTime(microseconds: microseconds + hours * 3_600_000_000) }
}
