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
        var magnitude = value
        let start = count
        repeat {
            append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        self[start...].reverse()
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
