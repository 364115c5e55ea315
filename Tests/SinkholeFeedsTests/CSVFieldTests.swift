import Testing
@testable import SinkholeFeeds

@Suite("CSV fields a bot cannot break")
struct CSVFieldTests {
    func text(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        CSVField.appendText(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("Plain text is quoted and kept as is")
    func plain() {
        #expect(text(Array("/gate.php?id=1".utf8)) == "\"/gate.php?id=1\"")
        #expect(text([]) == "\"\"")
    }

    @Test("Quotes are doubled and commas stay inside the quoted field")
    func quotesAndCommas() {
        #expect(text(Array("a\"b,c".utf8)) == "\"a\"\"b,c\"")
    }

    @Test("CR, LF, NUL, ESC and DEL become \\xNN so a row stays one line")
    func controls() {
        #expect(text([0x61, 0x0D, 0x0A, 0x00, 0x1B, 0x7F, 0x62]) == "\"a\\x0d\\x0a\\x00\\x1b\\x7fb\"")
    }

    @Test("A backslash is doubled, so the rendering can be undone")
    func backslash() {
        #expect(text(Array("a\\x0d".utf8)) == "\"a\\\\x0d\"")
    }

    @Test("Valid UTF-8 is kept; invalid bytes, overlongs and surrogates are escaped byte by byte",
          arguments: [
            ([0xC3, 0xA9], "\"é\""),
            ([0xF0, 0x9F, 0x98, 0x80], "\"😀\""),
            ([0xC3], "\"\\xc3\""),
            ([0xC0, 0xAF], "\"\\xc0\\xaf\""),
            ([0xED, 0xA0, 0x80], "\"\\xed\\xa0\\x80\""),
            ([0xF4, 0x90, 0x80, 0x80], "\"\\xf4\\x90\\x80\\x80\""),
            ([0xE2, 0x82, 0x41], "\"\\xe2\\x82A\""),
          ] as [([UInt8], String)])
    func utf8(_ bytes: [UInt8], _ expected: String) {
        #expect(text(bytes) == expected)
    }

    @Test("Every single byte value renders without CR, LF or an unbalanced quote")
    func everyByte() {
        for byte in UInt8.min...UInt8.max {
            let rendered = text([0x78, byte, 0x78])
            #expect(!rendered.utf8.contains(0x0A) && !rendered.utf8.contains(0x0D) && !rendered.utf8.contains(0x00))
            #expect(rendered.utf8.filter { $0 == UInt8(ascii: "\"") }.count % 2 == 0)
        }
    }

    @Test("Integers are unquoted")
    func integers() {
        var out = [UInt8]()
        CSVField.appendInteger(UInt16(53), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "53")
    }
}
