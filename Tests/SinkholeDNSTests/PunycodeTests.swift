import SinkholeDNS
import Testing

@Suite("Unicode names in seized lists")
struct PunycodeTests {
    /// Known A-labels: RFC 3492's examples and delegated IDN TLDs.
    @Test("labels encode to their known A-labels", arguments: [
        ("bücher", "bcher-kva"),
        ("münchen", "mnchen-3ya"),
        ("中国", "fiqs8s"),
        ("рф", "p1ai"),
        ("ελ", "qxam"),
        ("한국", "3e0b707e"),
    ])
    func knownLabels(label: String, encoded: String) {
        #expect(Punycode.encode(Array(label.unicodeScalars)) == encoded)
    }

    @Test("names become ASCII label by label, lowercased, ASCII labels untouched")
    func names() {
        #expect(Punycode.asciiName("Bücher.example") == "xn--bcher-kva.example")
        #expect(Punycode.asciiName("cc.MÜNCHEN.test.") == "cc.xn--mnchen-3ya.test.")
        #expect(Punycode.asciiName("plain.Example") == "plain.Example")
        #expect(Punycode.asciiName("c2.рф") == "c2.xn--p1ai")
    }
}
