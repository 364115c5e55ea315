import SinkholeCore
import Testing

@Suite("BoundedBytes: printed byte for byte")
struct BoundedBytesTests {
    @Test("debugDescription keeps printable ASCII and writes every other byte, quote and backslash as \\xHH; a cut value ends in …")
    func debugDescription() {
        let text = BoundedBytes<16>(Array("a \"b\"\\".utf8) + [0x00, 0x0d, 0x0a, 0x1b, 0x7f, 0xc3, 0xff])
        #expect(String(reflecting: text) == #""a \x22b\x22\x5c\x00\x0d\x0a\x1b\x7f\xc3\xff""#)
        // Two values that read alike as text (invalid UTF-8 becomes U+FFFD) print apart.
        #expect(BoundedBytes<4>([0xff]).description == BoundedBytes<4>([0xfe]).description)
        #expect(String(reflecting: BoundedBytes<4>([0xff])) != String(reflecting: BoundedBytes<4>([0xfe])))
        #expect(String(reflecting: BoundedBytes<2>("abc")) == #""ab"…"#)
        #expect(String(reflecting: BoundedBytes<2>()) == #""""#)
    }
}
