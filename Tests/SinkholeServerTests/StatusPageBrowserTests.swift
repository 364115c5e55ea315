import Foundation
import SinkholeCore
import Testing

@testable import SinkholeServer

/// /status as an operator sees it: loaded by headless Chromium, the DOM it built checked for
/// the numbers, and a screenshot kept in `.build/test-artefacts/` for a person to look at.
/// First a page rendered from a fixed snapshot (`file://`), then the running binary's own page
/// after known traffic.
@Suite("StatusPage in a browser: headless Chromium", .serialized,
       .enabled(if: Chromium.shouldRun, Chromium.skipMessage))
struct StatusPageBrowserTests {
    /// A name under a seized apex, chosen by a bot to be markup.
    static let hostileName = "<script>alert(\"x&y\")</script>.c2.example"

    @Test("a fixture page: Chromium's DOM holds its numbers, a hostile name stays text, and the screenshot is a full page")
    func fixturePage() throws {
        var snapshot = StatusPageTests.fixture()
        snapshot.topNames.append(.init(family: "conficker", name: Self.hostileName, count: 2))
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("status.html")
        try StatusPage.render(snapshot).write(to: page, atomically: true, encoding: .utf8)

        let dom = try Chromium.dumpDOM(page.absoluteString)
        for family in snapshot.families {
            let chart = try #require(dom.element(id: "chart-\(family.name)"), "\(family.name) chart")
            #expect(chart.attributes["data-total"] == String(family.perMinute.reduce(0, +)))
            #expect(dom.element(id: "unique-\(family.name)")?.attributes["data-unique-ips"] == String(family.uniqueAddresses))
        }
        #expect(dom.element(id: "chart-conficker")?.attributes["data-total"] == "5135")
        #expect(dom.element(id: "unique-conficker")?.attributes["data-unique-ips"] == "1048576")
        #expect(dom.element(id: "unique-example")?.attributes["data-unique-ips"] == "3")
        let names = dom.elements(class: "top-name")
        #expect(names.map { $0.attributes["data-count"] } == ["901", "4", "2"])
        #expect(dom.element(id: "drop-ring")?.attributes["class"] == "bad")
        #expect(dom.element(id: "drop-ring")?.attributes["data-count"] == "3")
        #expect(dom.element(id: "drop-writer")?.attributes["class"] == "ok")
        #expect(dom.element(id: "drop-pcap")?.attributes["class"] == "off")

        // Markup in a name reached the browser as text: the only elements are the page's own,
        // and the name reads back whole from the cell and from its data attribute.
        #expect(!dom.elements.contains { $0.name == "script" }, "a script element in the DOM")
        let hostile = try #require(names.last)
        #expect(hostile.attributes["data-name"] == Self.hostileName)
        #expect(hostile.text.contains(Self.hostileName), "\(hostile.text)")
        #expect(dom.html.contains("&lt;script&gt;alert("))

        let png = try Chromium.artefactsDirectory().appendingPathComponent("status-page-fixture.png")
        try Chromium.screenshot(page.absoluteString, to: png)
        #expect(try Chromium.checkScreenshot(png) == Chromium.windowHeight)
        print("StatusPageBrowserTests: fixture screenshot at \(png.path)")
    }

    @Test("the running binary's /status after 5 DNS queries and 3 HTTP check-ins: the numbers in the DOM, and a screenshot")
    func runningBinary() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dnsPort = try freeLoopbackPort()
        let httpPort = try freeLoopbackPort()
        let metricsPort = try freeLoopbackPort()
        try "cc.botnet.example\n".write(to: directory.appendingPathComponent("example.txt"), atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        try """
        node: browser-node
        sinkhole_addresses: [198.51.100.10]
        families:
          - name: example
            domains: [example.txt]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: ["127.0.0.1:\(httpPort)"]
          tls_listen: []
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        metrics: {listen: "127.0.0.1:\(metricsPort)"}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()

        // 4 + 1 queries for seized names (DNS: counted per minute and per name, but no infected
        // address, since a resolver may have asked), and one HTTP check-in from each of three
        // loopback sources, each naming a seized Host: three infected addresses.
        for name in Array(repeating: "a.cc.botnet.example", count: 4) + ["b.cc.botnet.example"] {
            let reply = try dig(server: "127.0.0.1", port: dnsPort, name: name)
            #expect(reply.status == "NOERROR" && reply.answers.count == 1, "\(reply.output)")
        }
        for source in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            let response = try HTTPBinaryTests.curl(["--interface", source, "-H", "Host: cc.botnet.example",
                                                     "http://127.0.0.1:\(httpPort)/gate.php"])
            #expect(response.status == "200", "\(response.output)")
        }

        // The writer publishes its summary at most once a second: poll until it has all of it.
        let status = "http://127.0.0.1:\(metricsPort)/status"
        let deadline = ContinuousClock.now + .seconds(20)
        var served = Chromium.DOM("")
        repeat {
            served = Chromium.DOM(try runTool("/usr/bin/curl", ["-sS", "--max-time", "5", status]))
            if served.element(id: "chart-example")?.attributes["data-total"] == "8"
                && served.element(id: "unique-example")?.attributes["data-unique-ips"] == "3"
                && served.elements(class: "top-name").count == 3 { break }
            Thread.sleep(forTimeInterval: 0.2)
        } while ContinuousClock.now < deadline
        try #require(served.element(id: "chart-example")?.attributes["data-total"] == "8", "\(served.html)\n\(sinkhole.stderr)")

        let png = try Chromium.artefactsDirectory().appendingPathComponent("status-page.png")
        try Chromium.screenshot(status, to: png)
        #expect(try Chromium.checkScreenshot(png) == Chromium.windowHeight)
        print("StatusPageBrowserTests: screenshot of the running sinkhole's /status at \(png.path)")

        let dom = try Chromium.dumpDOM(status)
        #expect(dom.element(id: "node")?.text == "browser-node")
        let chart = try #require(dom.element(id: "chart-example"), "\(dom.html)")
        #expect(chart.attributes["data-total"] == "8")
        let unique = try #require(dom.element(id: "unique-example"))
        #expect(unique.attributes["data-unique-ips"] == "3")
        #expect(unique.attributes["data-estimate"] == "false")
        let names = dom.elements(class: "top-name")
        #expect(names.map { $0.attributes["data-name"] } == ["a.cc.botnet.example", "cc.botnet.example", "b.cc.botnet.example"])
        #expect(names.map { $0.attributes["data-count"] } == ["4", "3", "1"])
        #expect(names.allSatisfy { $0.attributes["data-family"] == "example" })
        for id in ["drop-ring", "drop-writer"] {
            #expect(dom.element(id: id)?.attributes["class"] == "ok", "\(id)")
            #expect(dom.element(id: id)?.attributes["data-count"] == "0", "\(id)")
        }
        // No capture configured: its indicator is grey, not green.
        #expect(dom.element(id: "drop-pcap")?.attributes["class"] == "off")
        // No feeds, so no AS data: the section is left out.
        #expect(dom.element(id: "top-asns") == nil)

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
    }
}
