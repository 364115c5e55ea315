import SinkholeCore
import SinkholeStore

/// /status: one self-contained HTML page an operator leaves open during a takedown.
///
/// No scripts, fonts or other assets (it must work offline, behind `default-src 'none'`); inline
/// CSS and one inline SVG chart per family; it reloads itself every 30 s. Written as
/// XHTML-compatible HTML (closed void elements, no named entities beyond XML's), so tests can
/// parse it with an XML parser, and every number carries an `id` or `data-*` hook holding the
/// raw value for a browser test to read. Every string may come from the network (bots choose the
/// labels under a seized apex), so every string goes through `escape`.
public enum StatusPage {
    /// The refresh interval, in seconds, of `<meta http-equiv="refresh">`.
    public static let refreshSeconds = 30

    public static func render(_ snapshot: StatusSnapshot) -> String {
        var html = ""
        html.reserveCapacity(8_192 + snapshot.families.count * 40_000)
        html += """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta http-equiv="refresh" content="\(refreshSeconds)"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>sinkhole status · \(escape(snapshot.node))</title>
            <style>\(css)</style>
            </head>
            <body>

            """
        header(snapshot, into: &html)
        drops(snapshot.drops, into: &html)
        uniqueAddresses(snapshot.families, into: &html)
        charts(snapshot, into: &html)
        topNames(snapshot.topNames, into: &html)
        if let asns = snapshot.topASNs { topASNs(asns, capped: snapshot.asnRankingCapped, into: &html) }
        html += "</body>\n</html>\n"
        return html
    }

    // MARK: Sections

    private static func header(_ s: StatusSnapshot, into html: inout String) {
        html += "<header>\n<h1>sinkhole <span id=\"node\">\(escape(s.node))</span></h1>\n<p>"
        html += "version <span id=\"version\">\(escape(s.version))</span> · generated "
        html += "<time id=\"generated-at\" datetime=\"\(s.generatedAt)\">\(s.generatedAt.secondsString) UTC</time>"
        if let since = s.since {
            // The summary lives in memory: after a restart today's figures start at the restart.
            html += " · counting since <time id=\"since\" datetime=\"\(since)\">\(since.secondsString) UTC</time> (start)"
        }
        html += " · reloads every \(refreshSeconds) s</p>\n</header>\n"
    }

    private static func drops(_ d: StatusSnapshot.Drops, into html: inout String) {
        html += "<section id=\"drops\">\n<h2>Losses</h2>\n<ul class=\"indicators\">\n"
        indicator(id: "drop-ring", label: "ring drops", count: d.ringDropped, into: &html)
        indicator(id: "drop-writer", label: "store refusing, batches held", count: d.writerHeld, into: &html)
        indicator(id: "drop-pcap", label: "pcap drops", count: d.pcapDropped, into: &html)
        html += "</ul>\n</section>\n"
    }

    /// Red above zero, green at zero, grey when the source is off (`count` nil).
    private static func indicator(id: String, label: String, count: Int?, into html: inout String) {
        guard let count else {
            html += "<li id=\"\(id)\" class=\"off\" data-count=\"\"><span class=\"dot\"></span>\(label): <b>off</b></li>\n"
            return
        }
        let state = count > 0 ? "bad" : "ok"
        html += "<li id=\"\(id)\" class=\"\(state)\" data-count=\"\(count)\"><span class=\"dot\"></span>\(label): <b>\(grouped(count))</b></li>\n"
    }

    private static func uniqueAddresses(_ families: [StatusSnapshot.Family], into html: inout String) {
        html += "<section id=\"unique\">\n<h2>Unique infected addresses today</h2>\n"
        html += "<table>\n<thead><tr><th>family</th><th class=\"num\">addresses</th></tr></thead>\n<tbody>\n"
        if families.isEmpty { html += "<tr><td colspan=\"2\">no families configured</td></tr>\n" }
        var anyEstimate = false
        for f in families {
            let name = escape(f.name)
            anyEstimate = anyEstimate || f.uniqueIsEstimate
            html += "<tr id=\"unique-\(name)\" data-family=\"\(name)\" data-unique-ips=\"\(f.uniqueAddresses)\" "
            html += "data-estimate=\"\(f.uniqueIsEstimate)\"><th scope=\"row\">\(name)</th>"
            html += "<td class=\"num\">\(f.uniqueIsEstimate ? "≈ " : "")\(grouped(f.uniqueAddresses))</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        if anyEstimate {
            let percent = (AddressCardinality.standardError * 1000).rounded() / 10
            html += "<p class=\"note\">≈: estimated past \(grouped(AddressCardinality.defaultExactLimit)) addresses (HyperLogLog, standard error \(percent) %).</p>\n"
        }
        html += "</section>\n"
    }

    private static func charts(_ s: StatusSnapshot, into html: inout String) {
        html += "<section id=\"charts\">\n<h2>Check-ins per minute, last 24 hours (UTC)</h2>\n"
        let endMinute = MinuteSeries.minute(of: s.generatedAt)
        for f in s.families { chart(f, endMinute: endMinute, into: &html) }
        html += "</section>\n"
    }

    private static func topNames(_ names: [StatusSnapshot.NameCount], into html: inout String) {
        html += "<section id=\"top-names\">\n<h2>Top seized names today</h2>\n<table>\n"
        html += "<thead><tr><th class=\"num\">#</th><th>name</th><th>family</th><th class=\"num\">check-ins</th></tr></thead>\n<tbody>\n"
        if names.isEmpty { html += "<tr><td colspan=\"4\">none yet</td></tr>\n" }
        for (i, n) in names.enumerated() {
            let name = escape(n.name)
            let family = escape(n.family)
            html += "<tr class=\"top-name\" data-rank=\"\(i + 1)\" data-family=\"\(family)\" data-name=\"\(name)\" data-count=\"\(n.count)\">"
            html += "<td class=\"num\">\(i + 1)</td><td class=\"name\">\(name)</td><td>\(family)</td>"
            html += "<td class=\"num\">\(n.approximate ? "≈ " : "")\(grouped(n.count))</td></tr>\n"
        }
        html += "</tbody>\n</table>\n</section>\n"
    }

    private static func topASNs(_ asns: [StatusSnapshot.ASNCount], capped: Bool, into html: inout String) {
        html += "<section id=\"top-asns\">\n<h2>Top source networks today</h2>\n<table>\n"
        html += "<thead><tr><th class=\"num\">#</th><th>AS</th><th class=\"num\">infected addresses</th></tr></thead>\n<tbody>\n"
        if asns.isEmpty { html += "<tr><td colspan=\"3\">none yet</td></tr>\n" }
        for (i, a) in asns.enumerated() {
            html += "<tr class=\"top-asn\" data-rank=\"\(i + 1)\" data-asn=\"\(a.asn)\" data-count=\"\(a.count)\">"
            html += "<td class=\"num\">\(i + 1)</td><td>AS\(a.asn)</td>"
            html += "<td class=\"num\">\(a.approximate ? "≈ " : "")\(grouped(a.count))</td></tr>\n"
        }
        html += "</tbody>\n</table>\n"
        if capped {
            html += "<p id=\"asn-capped\" class=\"note\">The ranking covers the first \(grouped(TrafficSummary.asnAddressLimit)) infected addresses of the day only.</p>\n"
        }
        html += "</section>\n"
    }

    // MARK: Text

    /// Text safe in element content and in double- or single-quoted attributes. Beyond HTML's five
    /// specials: control characters (C0, DEL, C1: invisible, and C0 is not even allowed in XML)
    /// print as `\DDD`, the RFC 1035 §5.1 presentation of a byte in a DNS label; a backslash
    /// prints as `\\` so the two cannot be confused; bidirectional overrides, which could make
    /// a name read backwards, and the XML non-characters U+FFFE/U+FFFF print as `\u{XXXX}`.
    /// Invalid UTF-8 became U+FFFD when the bytes were decoded into a `String`; it prints as is.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x26: out += "&amp;"
            case 0x3C: out += "&lt;"
            case 0x3E: out += "&gt;"
            case 0x22: out += "&quot;"
            case 0x27: out += "&#39;"
            case 0x5C: out += "\\\\"
            case 0x00..<0x20, 0x7F...0x9F:
                let v = Int(scalar.value)
                out += "\\" + String(v / 100) + String(v / 10 % 10) + String(v % 10)
            case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0xFFFE, 0xFFFF:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `1234567` as `1,234,567`: counts on the page are read at a glance.
    static func grouped(_ value: Int) -> String {
        let digits = Array(String(value.magnitude))
        var out = value < 0 ? "-" : ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }

    static let css = """
        body{font:14px/1.4 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:1.5em auto;max-width:1280px;padding:0 1em;color:#1d2330;background:#fbfbfc}\
        h1{font-size:1.5em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .5em;border-bottom:1px solid #d8dce3}\
        header p{color:#5a6272;margin:.3em 0}\
        table{border-collapse:collapse;min-width:24em}th,td{padding:.2em .8em;text-align:left;border-bottom:1px solid #eceef2}\
        .num{text-align:right;font-variant-numeric:tabular-nums}td.name{font-family:"DejaVu Sans Mono",monospace;word-break:break-all}\
        .indicators{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.6em}\
        .indicators li{padding:.4em .9em;border-radius:4px;border:1px solid #d8dce3;background:#fff}\
        .dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.5em;background:#9aa1ad}\
        .ok .dot{background:#2e9d4f}.bad{border-color:#d0343a;background:#fdecec}.bad .dot{background:#d0343a}.bad b{color:#b3242a}\
        .off{color:#7a808c}.note{color:#5a6272;font-size:.9em}\
        figure{margin:0 0 1.2em}figcaption{font-weight:600;margin-bottom:.2em}figcaption span{font-weight:400;color:#5a6272}\
        svg.chart{width:100%;height:auto;display:block}\
        .chart .area{fill:#3b6fd4;fill-opacity:.18;stroke:none}.chart .line{fill:none;stroke:#2f5fbf;stroke-width:1.5;vector-effect:non-scaling-stroke}\
        .chart .grid{stroke:#e3e6ec;stroke-width:1}.chart .axis{stroke:#9aa1ad;stroke-width:1}\
        .chart text{font-size:12px;fill:#5a6272}
        """
}
