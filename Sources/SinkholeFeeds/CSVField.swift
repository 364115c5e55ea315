/// Renders values into CSV fields (RFC 4180) that a bot cannot use to break a row.
///
/// Text from the network (a Host header, a path, a User-Agent, a SNI) is stored as received and
/// may hold CR, LF, NUL, quotes, commas or bytes that are not UTF-8. RFC 4180 would allow CR and
/// LF inside a quoted field, but ISPs grep, split and `wc -l` these files as often as they parse
/// them, so a row here is always one physical line:
/// - a control byte (C0, DEL) and every byte of an invalid UTF-8 sequence becomes `\xNN`;
/// - a backslash becomes `\\`, so the rendering is reversible and nothing is silently altered;
/// - text fields are always quoted, an inner `"` doubled (RFC 4180 §2.7), as Shadowserver does;
/// - integers are unquoted and an absent value is an empty field (IntelMQ reads both so).
public enum CSVField {
    /// Appends `bytes` as one quoted, escaped field.
    public static func appendText(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(bytes, to: &out, doublingQuotes: true)
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `text` as one quoted, escaped field.
    public static func appendText(_ text: String, to out: inout [UInt8]) {
        appendText(Array(text.utf8), to: &out)
    }

    /// Appends an integer, unquoted.
    public static func appendInteger(_ value: some BinaryInteger, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// Appends the rendering of network bytes without CSV quoting, for JSON strings and log
    /// lines that need the same one-line, reversible form.
    public static func appendEscaped(_ bytes: some Collection<UInt8>, to out: inout [UInt8], doublingQuotes: Bool = false) {
        let input = Array(bytes)
        var i = 0
        while i < input.count {
            let byte = input[i]
            if byte < 0x20 || byte == 0x7F {
                appendHexEscape(byte, to: &out)
                i += 1
            } else if byte == UInt8(ascii: "\\") {
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                i += 1
            } else if byte == UInt8(ascii: "\"") && doublingQuotes {
                out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "\"")])
                i += 1
            } else if byte < 0x80 {
                out.append(byte)
                i += 1
            } else {
                let length = validSequenceLength(input, at: i)
                if length == 0 {
                    appendHexEscape(byte, to: &out)
                    i += 1
                } else {
                    out.append(contentsOf: input[i..<(i + length)])
                    i += length
                }
            }
        }
    }

    private static func appendHexEscape(_ byte: UInt8, to out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// The length of the well-formed UTF-8 sequence starting at `i` (RFC 3629 §4: no overlong
    /// forms, no surrogates, nothing above U+10FFFF), or 0 when there is none.
    static func validSequenceLength(_ bytes: [UInt8], at i: Int) -> Int {
        let lead = bytes[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return 0
        }
        guard i + length <= bytes.count else { return 0 }
        let second = bytes[i + 1]
        guard second >= low && second <= high else { return 0 }
        for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return 0 }
        return length
    }
}
