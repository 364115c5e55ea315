@testable import SinkholeStore
import Testing

@Suite("ByteText: numbers and hex written as ASCII onto a byte buffer")
struct ByteTextTests {
    /// Every digit count, both sides of each power of ten, and the extremes.
    static let values: [UInt64] = {
        var values: [UInt64] = [0, 1, 9, UInt64.max, UInt64.max - 1]
        var power: UInt64 = 10
        while true {
            values += [power - 1, power, power + 1]
            let (next, overflow) = power.multipliedReportingOverflow(by: 10)
            if overflow { break }
            power = next
        }
        return values
    }()

    @Test("an unsigned number is written as Swift's description writes it, after what the buffer held")
    func unsigned() {
        for value in Self.values {
            var bytes: [UInt8] = Array("x=".utf8)
            bytes.appendDecimal(value)
            #expect(String(decoding: bytes, as: UTF8.self) == "x=\(value)")
        }
    }

    @Test("a signed number gets its minus sign, Int64.min included")
    func signed() {
        let values: [Int64] = [0, -1, 1, -10, 99, -100, Int64.max, Int64.min, Int64.min + 1]
        for value in values {
            var bytes: [UInt8] = []
            bytes.appendDecimal(value)
            #expect(String(decoding: bytes, as: UTF8.self) == "\(value)")
        }
    }

    @Test("hex is two lowercase digits per byte")
    func hex() {
        var bytes: [UInt8] = []
        ([0x00, 0x0f, 0xa0, 0xff] as [UInt8]).withUnsafeBytes { bytes.appendLowercaseHex($0) }
        #expect(String(decoding: bytes, as: UTF8.self) == "000fa0ff")
    }
}
