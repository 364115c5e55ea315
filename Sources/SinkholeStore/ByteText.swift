/// Numbers and bytes written as ASCII straight onto a byte buffer: the writer renders several
/// per stored row (event ids, COPY rows, digests), where a `String` per field cost more than
/// the rest of the row (measured with perf).
extension Array where Element == UInt8 {
    /// `value` in decimal, with a leading `-` when negative.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
    }

    mutating func appendDecimal(_ value: UInt64) {
        // Digits counted first and written from the last one back into their places: reversing
        // them afterwards went through a slice copy per number, a sixth of a COPY row's cost.
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let start = count
        append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var magnitude = value
        var position = start + digits
        while magnitude > 0 {
            position -= 1
            self[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        }
    }

    /// Two lowercase hex digits per byte.
    mutating func appendLowercaseHex(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            append(lowercaseHexDigits[Int(byte >> 4)])
            append(lowercaseHexDigits[Int(byte & 0xf)])
        }
    }
}

private let lowercaseHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
