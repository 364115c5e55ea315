#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many distinct infected addresses one family has shown today, for /status.
///
/// Exact up to `exactLimit` addresses (a `Set`, about 40 bytes an address), then an estimate: a
/// HyperLogLog (Flajolet, Fusy, Gandouet, Meunier, AofA 2007) with 2^14 one-byte registers
/// (16 KiB), whose standard error is 1.04 / sqrt(2^14) ≈ 0.81 %; 99 % of estimates fall within
/// three standard errors, ±2.5 %. A big takedown sees millions of addresses a day, so memory stays
/// bounded (about 2.6 MiB a family at the switch, 16 KiB after) while a small one stays exact.
/// The hash is splitmix64 over the address's words: deterministic, so a test's figures repeat.
public struct AddressCardinality: Sendable {
    /// Addresses counted exactly before switching to the estimate.
    public static let defaultExactLimit = 65_536
    /// log2 of the register count.
    static let precision = 14
    static let registerCount = 1 << precision
    /// The estimate's relative standard error, 1.04 / sqrt(registers), for the page's footnote.
    public static let standardError = 1.04 / Double(registerCount).squareRoot()

    public let exactLimit: Int
    /// The UTC day being counted (its midnight).
    public private(set) var day: UTCTime
    private var exact: Set<IPAddress> = []
    /// Allocated on the switch to estimating; nil while exact.
    private var registers: [UInt8]? = nil
    /// The exact count at the switch: the estimate is never reported below a number known for sure.
    private var floor = 0

    public init(day: UTCTime, exactLimit: Int = defaultExactLimit) {
        precondition(exactLimit >= 0)
        self.day = day.dayStart
        self.exactLimit = exactLimit
    }

    /// True once the count is a HyperLogLog estimate: the page prints "≈".
    public var isEstimate: Bool { registers != nil }

    /// Distinct addresses inserted since the day began: exact, or the estimate when `isEstimate`.
    public var count: Int {
        guard let registers else { return exact.count }
        return max(Self.estimate(registers), floor)
    }

    /// Counts `address`. Returns whether it was new while counting exactly, and nil once
    /// estimating (a HyperLogLog cannot tell).
    @discardableResult
    public mutating func insert(_ address: IPAddress) -> Bool? {
        if registers != nil {
            let h = Self.hash(address)
            let i = Self.registerIndex(h)
            registers![i] = max(registers![i], Self.rank(h))
            return nil
        }
        guard exact.insert(address).inserted else { return false }
        if exact.count > exactLimit { switchToEstimate() }
        return true
    }

    /// Starts a new UTC day: forgets every address and frees the exact set's memory.
    public mutating func reset(forDay newDay: UTCTime) {
        day = newDay.dayStart
        exact = []
        registers = nil
        floor = 0
    }

    private mutating func switchToEstimate() {
        var fresh = [UInt8](repeating: 0, count: Self.registerCount)
        for address in exact {
            let h = Self.hash(address)
            let i = Self.registerIndex(h)
            fresh[i] = max(fresh[i], Self.rank(h))
        }
        floor = exact.count
        registers = fresh
        exact = []
    }

    // MARK: HyperLogLog

    /// splitmix64's finaliser (Steele, Lea, Flood, OOPSLA 2014), applied to each word in turn so
    /// that the family, the high and the low word all reach every output bit.
    static func hash(_ address: IPAddress) -> UInt64 {
        var h = mix(UInt64(address.family.rawValue) &+ 0x9E37_79B9_7F4A_7C15)
        h = mix((h ^ address.high) &+ 0x9E37_79B9_7F4A_7C15)
        return mix((h ^ address.low) &+ 0x9E37_79B9_7F4A_7C15)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func registerIndex(_ hash: UInt64) -> Int { Int(hash >> UInt64(64 - precision)) }

    /// The position of the first 1 bit after the index bits (1-based); the sentinel bit caps it
    /// at 64 - precision + 1 when the rest is all zeros.
    static func rank(_ hash: UInt64) -> UInt8 {
        let rest = (hash << UInt64(precision)) | (1 << UInt64(precision - 1))
        return UInt8(rest.leadingZeroBitCount + 1)
    }

    static func estimate(_ registers: [UInt8]) -> Int {
        let m = Double(registers.count)
        var sum = 0.0
        var zeros = 0
        for r in registers {
            sum += 1.0 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        // alpha_m for m >= 128 (Flajolet et al., figure 3).
        let alpha = 0.7213 / (1 + 1.079 / m)
        let raw = alpha * m * m / sum
        // Small-range correction: linear counting is more accurate while registers are empty.
        if raw <= 2.5 * m, zeros > 0 {
            return Int((m * log(m / Double(zeros))).rounded())
        }
        // With 64-bit hashes the large-range correction of the 32-bit original is not needed.
        return Int(raw.rounded())
    }
}
