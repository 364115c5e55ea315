import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import SinkholeCore
import Testing

@testable import SinkholeServer

@Suite("StatusPage: the /status HTML")
struct StatusPageTests {
    /// 2026-11-29 22:58:30 UTC.
    static let now = UTCTime(seconds: UTCTime(year: 2026, month: 11, day: 29).seconds + 22 * 3600 + 58 * 60 + 30)

    /// A day of conficker traffic rising to a peak of 37 per minute, and one quiet family.
    static func fixture(topASNs: [StatusSnapshot.ASNCount]? = [
        .init(asn: 64_496, count: 1_234_567),
        .init(asn: 64_497, count: 12, approximate: true),
    ]) -> StatusSnapshot {
        var conficker = [Int](repeating: 0, count: 1440)
        for i in 0..<1440 { conficker[i] = i % 60 == 0 ? 37 : i % 7 }
        var quiet = [Int](repeating: 0, count: 1440)
        quiet[1439] = 2
        return StatusSnapshot(
            node: "sinkhole-a", version: "0.1.0", generatedAt: now,
            since: UTCTime(year: 2026, month: 11, day: 29),
            families: [
                .init(name: "conficker", perMinute: conficker, uniqueAddresses: 1_048_576, uniqueIsEstimate: true),
                .init(name: "example", perMinute: quiet, uniqueAddresses: 3, uniqueIsEstimate: false),
            ],
            topNames: [
                .init(family: "conficker", name: "abcd.c2.example", count: 901),
                .init(family: "example", name: "www.example.test", count: 4, approximate: true),
            ],
            topASNs: topASNs,
            drops: .init(ringDropped: 3, writerHeld: 0, pcapDropped: nil))
    }

    @Test("the page is well-formed, self-contained and refreshes itself")
    func selfContained() throws {
        let html = StatusPage.render(Self.fixture())
        let page = try ParsedPage(html)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        let refresh = page.elements.first { $0.name == "meta" && $0.attributes["http-equiv"] == "refresh" }
        #expect(refresh?.attributes["content"] == "30")
        #expect(page.elements.filter { $0.name == "style" }.count == 1)
        for forbidden in ["script", "link", "img", "iframe", "object"] {
            #expect(!page.elements.contains { $0.name == forbidden }, "\(forbidden)")
        }
        for element in page.elements {
            for key in ["src", "href"] { #expect(element.attributes[key] == nil, "\(element.name) has \(key)") }
        }
        #expect(!html.contains("url("))
        #expect(!html.contains("@import"))
        #expect(page.element(id: "node")?.text == "sinkhole-a")
        #expect(page.element(id: "version")?.text == "0.1.0")
        #expect(page.element(id: "generated-at")?.text == "2026-11-29 22:58:30 UTC")
        #expect(page.element(id: "since")?.text == "2026-11-29 00:00:00 UTC")
    }

    @Test("each family has an SVG path of 1440 points, one x unit per minute, scaled to a round maximum")
    func charts() throws {
        let snapshot = Self.fixture()
        let page = try ParsedPage(StatusPage.render(snapshot))
        for family in snapshot.families {
            let figure = try #require(page.element(id: "chart-\(family.name)"))
            #expect(figure.attributes["data-total"] == String(family.perMinute.reduce(0, +)))
            #expect(figure.attributes["data-peak"] == String(family.perMinute.max()!))
            let line = try #require(page.elements.first {
                $0.name == "path" && $0.attributes["class"] == "line" && $0.ancestors.contains("chart-\(family.name)")
            })
            #expect(line.attributes["data-points"] == "1440")
            let points = try pathPoints(try #require(line.attributes["d"]))
            #expect(points.count == 1440)
            #expect(points.map(\.x) == (0..<1440).map { Double(56 + $0) })
            // y = baseline (130) − value × 120 / niceCeiling(peak); conficker's peak 37 → 50.
            let top = Double(StatusPage.niceCeiling(family.perMinute.max()!))
            for (point, value) in zip(points, family.perMinute) {
                #expect(abs(point.y - (130 - Double(value) * 120 / top)) <= 0.05)
            }
        }
        #expect(StatusPage.niceCeiling(37) == 50)
        #expect(StatusPage.niceCeiling(2) == 2)
        #expect(StatusPage.niceCeiling(0) == 1)
        #expect(StatusPage.niceCeiling(101) == 200)
        #expect(StatusPage.niceCeiling(1000) == 1000)
        // Hour labels: the window runs from 22:59 yesterday to 22:58, so 00:00 … 21:00 every 3 hours.
        let hours = page.elements.filter { $0.name == "text" && $0.attributes["class"] == "hour" && $0.ancestors.contains("chart-conficker") }
        #expect(hours.map(\.text) == ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"])
        // The 00:00 label sits on the minute 61 + 60 × 0 after 22:59: x = 56 + 61.
        #expect(hours.first?.attributes["x"] == "117")
    }

    @Test("unique addresses, top names, top ASNs and drop indicators carry their exact numbers")
    func numbers() throws {
        let page = try ParsedPage(StatusPage.render(Self.fixture()))
        let conficker = try #require(page.element(id: "unique-conficker"))
        #expect(conficker.attributes["data-family"] == "conficker")
        #expect(conficker.attributes["data-unique-ips"] == "1048576")
        #expect(conficker.attributes["data-estimate"] == "true")
        #expect(page.descendants(of: conficker).contains { $0.name == "td" && $0.text == "≈ 1,048,576" })
        let example = try #require(page.element(id: "unique-example"))
        #expect(example.attributes["data-unique-ips"] == "3")
        #expect(example.attributes["data-estimate"] == "false")
        #expect(page.descendants(of: example).contains { $0.name == "td" && $0.text == "3" })

        let names = page.elements.filter { $0.attributes["class"] == "top-name" }
        #expect(names.map { $0.attributes["data-name"] } == ["abcd.c2.example", "www.example.test"])
        #expect(names.map { $0.attributes["data-count"] } == ["901", "4"])
        #expect(names.map { $0.attributes["data-family"] } == ["conficker", "example"])
        let asns = page.elements.filter { $0.attributes["class"] == "top-asn" }
        #expect(asns.map { $0.attributes["data-asn"] } == ["64496", "64497"])
        #expect(asns.map { $0.attributes["data-count"] } == ["1234567", "12"])
        #expect(page.descendants(of: asns[0]).contains { $0.text == "1,234,567" })
        #expect(page.element(id: "asn-capped") == nil)
        var capped = Self.fixture()
        capped.asnRankingCapped = true
        #expect(try ParsedPage(StatusPage.render(capped)).element(id: "asn-capped")?.text.contains("262,144") == true)

        let ring = try #require(page.element(id: "drop-ring"))
        #expect(ring.attributes["class"] == "bad")
        #expect(ring.attributes["data-count"] == "3")
        #expect(page.element(id: "drop-writer")?.attributes["class"] == "ok")
        #expect(page.element(id: "drop-writer")?.attributes["data-count"] == "0")
        #expect(page.element(id: "drop-pcap")?.attributes["class"] == "off")

        var spilling = Self.fixture()
        spilling.drops = .init(ringDropped: 0, writerHeld: 2, pcapDropped: 1)
        let after = try ParsedPage(StatusPage.render(spilling))
        #expect(after.element(id: "drop-writer")?.attributes["data-count"] == "2")
        for id in ["drop-writer", "drop-pcap"] {
            #expect(after.element(id: id)?.attributes["class"] == "bad", "\(id)")
        }
        #expect(after.element(id: "drop-ring")?.attributes["class"] == "ok")
        #expect(after.element(id: "drop-pcap")?.attributes["data-count"] == "1")
    }

    @Test("the ASN section is left out when no feeds are configured")
    func noFeeds() throws {
        let page = try ParsedPage(StatusPage.render(Self.fixture(topASNs: nil)))
        #expect(page.element(id: "top-asns") == nil)
        #expect(page.element(id: "top-names") != nil)
    }

    @Test("names and families chosen by bots are escaped: markup, quotes, ampersands, control bytes, invalid UTF-8")
    func escaping() throws {
        let script = "<script>alert(\"x\")</script>.c2.example"
        let quotes = "a&b'\"c.c2.example"
        // '<', 's', two bytes that are not UTF-8, NUL, ESC, a backslash, then U+202E (right-to-left override).
        let raw = String(decoding: [0x3C, 0x73, 0xFF, 0xFE, 0x00, 0x1B, 0x5C, 0xE2, 0x80, 0xAE, 0x2E, 0x65, 0x78], as: UTF8.self)
        var snapshot = Self.fixture()
        snapshot.node = "<i>node</i>"
        snapshot.families.append(.init(name: "<b onmouseover=\"x\">fam</b>", perMinute: Array(repeating: 1, count: 1440), uniqueAddresses: 1, uniqueIsEstimate: false))
        snapshot.topNames = [
            .init(family: "conficker", name: script, count: 1),
            .init(family: "conficker", name: quotes, count: 1),
            .init(family: "<b onmouseover=\"x\">fam</b>", name: raw, count: 1),
        ]
        let html = StatusPage.render(snapshot)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b "))
        #expect(!html.contains("<i>"))
        #expect(!html.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(!html.unicodeScalars.contains { $0.value == 0x202E })
        // The page still parses, and the parsed values read back as the names (control bytes as \DDD).
        let page = try ParsedPage(html)
        #expect(page.element(id: "node")?.text == "<i>node</i>")
        let names = page.elements.filter { $0.attributes["class"] == "top-name" }
        #expect(names.map { $0.attributes["data-name"] } == [
            script, quotes, "<s\u{FFFD}\u{FFFD}\\000\\027\\\\\\u{202E}.ex",
        ])
        #expect(names.last?.attributes["data-family"] == "<b onmouseover=\"x\">fam</b>")
        #expect(page.element(id: "unique-<b onmouseover=\"x\">fam</b>")?.attributes["data-unique-ips"] == "1")
        #expect(page.element(id: "chart-<b onmouseover=\"x\">fam</b>")?.attributes["data-total"] == "1440")
        #expect(StatusPage.escape("a<b>&\"'\\\u{7F}\u{85}\u{2066}") == "a&lt;b&gt;&amp;&quot;&#39;\\\\\\127\\133\\u{2066}")
        #expect(StatusPage.escape("bücher.example.de") == "bücher.example.de")
    }

    @Test("counts print with thousands separators")
    func grouping() {
        #expect(StatusPage.grouped(0) == "0")
        #expect(StatusPage.grouped(999) == "999")
        #expect(StatusPage.grouped(1000) == "1,000")
        #expect(StatusPage.grouped(1_234_567) == "1,234,567")
        #expect(StatusPage.grouped(-45_000) == "-45,000")
    }

    private func pathPoints(_ d: String) throws -> [(x: Double, y: Double)] {
        #expect(d.hasPrefix("M"))
        return try d.dropFirst().split(separator: "L").map { pair in
            let parts = pair.split(separator: " ")
            #expect(parts.count == 2)
            return (try #require(Double(String(parts[0]))), try #require(Double(String(parts[1]))))
        }
    }
}

/// The page parsed as XML: a flat list of elements with their attributes, text and the ids of
/// the elements that enclose them.
struct ParsedPage {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
        /// The `id`s of every enclosing element, outermost first.
        var ancestors: [String]
        var depth: Int
        var index: Int
        var end = 0
    }

    let elements: [Element]

    init(_ html: String) throws {
        let collector = Collector()
        let parser = XMLParser(data: Data(html.utf8))
        parser.delegate = collector
        guard parser.parse() else {
            throw ParseFailure(message: String(describing: parser.parserError), line: parser.lineNumber)
        }
        elements = collector.elements
    }

    func element(id: String) -> Element? { elements.first { $0.attributes["id"] == id } }

    func descendants(of element: Element) -> ArraySlice<Element> {
        elements[(element.index + 1)..<max(element.end, element.index + 1)]
    }

    struct ParseFailure: Error { var message: String; var line: Int }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [Int] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            let ancestors = open.compactMap { elements[$0].attributes["id"] }
            elements.append(Element(name: name, attributes: attributes, ancestors: ancestors, depth: open.count, index: elements.count))
            open.append(elements.count - 1)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            let index = open.removeLast()
            elements[index].end = elements.count
        }

        /// An element's text is all the text inside it, like a browser's `textContent`.
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            for index in open { elements[index].text += string }
        }
    }
}
