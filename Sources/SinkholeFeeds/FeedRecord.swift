import SinkholeCore
import SinkholeStore

/// A record of the feeds' own formats (the JSON Lines files, and the API's CSV and JSON Lines):
/// named fields in a fixed order, rendered either as one JSON object per line or as one CSV row
/// under `columns`, so both formats carry the same fields and the same day gives the same bytes.
///
/// Check-ins and DNS rows share one set of fields (`checkInColumns`; a DNS row's `name` is the
/// qname and it alone fills `query_type`), so a consumer reads one shape. Text from the network
/// is rendered as in the Shadowserver CSVs (`CSVField.appendEscaped`: control and invalid UTF-8
/// bytes as `\xNN`, backslash doubled); in JSON that text is then JSON-escaped, so a value
/// decodes to the same one-line text. Times are RFC 3339 UTC with microseconds.
public struct FeedRecord: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case text([UInt8])
        case integer(Int64)
    }

    public var fields: [(name: String, value: Value)] = []

    public static func == (a: FeedRecord, b: FeedRecord) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    mutating func text(_ name: String, _ value: String) { fields.append((name, .text(Array(value.utf8)))) }
    mutating func bytes(_ name: String, _ value: [UInt8]) { fields.append((name, .text(value))) }
    mutating func integer(_ name: String, _ value: some BinaryInteger) { fields.append((name, .integer(Int64(value)))) }

    /// One stored session.
    public static func checkIn(_ row: StoredCheckIn, asn: UInt32) -> FeedRecord {
        var r = FeedRecord()
        r.text("event_id", "\(row.node)/\(row.eventID)")
        r.text("node", row.node)
        r.text("service", row.service)
        r.text("transport", row.transport)
        r.text("first_seen", row.firstSeen.description)
        r.text("last_seen", row.lastSeen.description)
        r.integer("count", row.count)
        r.text("src_ip", row.source.description)
        r.integer("src_port", row.sourcePort)
        r.integer("src_asn", asn)
        r.text("dst_ip", row.destination.description)
        r.integer("dst_port", row.destinationPort)
        r.text("family", row.family)
        r.bytes("name", row.name)
        r.text("query_type", "")
        r.bytes("http_method", row.httpMethod)
        r.bytes("http_path", row.httpPath)
        r.text("http_version", row.httpVersion)
        r.bytes("http_user_agent", row.httpUserAgent)
        r.bytes("http_referer", row.httpReferer)
        r.bytes("http_forwarded_for", row.httpForwardedFor)
        r.bytes("tls_sni", row.tlsServerName)
        r.text("tls_version", row.tlsVersion)
        r.text("tls_cipher", row.tlsCipher)
        r.integer("tcp_flags", row.tcpFlags)
        return r
    }

    /// One DNS row (UTC hour, resolver, qname, qtype) in the check-ins' shape.
    public static func dnsQuery(_ row: StoredDNSQuery, asn: UInt32) -> FeedRecord {
        var r = FeedRecord()
        r.text("event_id", "")
        r.text("node", "")
        r.text("service", "dns")
        r.text("transport", "udp")
        r.text("first_seen", row.firstSeen.description)
        r.text("last_seen", row.lastSeen.description)
        r.integer("count", row.count)
        r.text("src_ip", row.source.description)
        r.integer("src_port", row.lastSourcePort)
        r.integer("src_asn", asn)
        r.text("dst_ip", "")
        r.integer("dst_port", 53)
        r.text("family", row.family)
        r.bytes("name", row.qname)
        r.text("query_type", DNSTypeNames.name(UInt16(truncatingIfNeeded: row.qtype)))
        for name in ["http_method", "http_path", "http_version", "http_user_agent", "http_referer",
                     "http_forwarded_for", "tls_sni", "tls_version", "tls_cipher"] {
            r.text(name, "")
        }
        r.integer("tcp_flags", 0)
        return r
    }

    /// One infected address and family on one UTC day.
    public static func infection(_ row: StoredInfection, asn: UInt32) -> FeedRecord {
        var r = FeedRecord()
        r.text("day", row.day)
        r.text("src_ip", row.source.description)
        r.integer("src_port", row.lastSourcePort)
        r.integer("src_asn", asn)
        r.text("family", row.family)
        r.text("first_seen", row.firstSeen.description)
        r.text("last_seen", row.lastSeen.description)
        r.integer("count", row.count)
        return r
    }

    public static let checkInColumns = [
        "event_id", "node", "service", "transport", "first_seen", "last_seen", "count", "src_ip", "src_port",
        "src_asn", "dst_ip", "dst_port", "family", "name", "query_type", "http_method", "http_path", "http_version",
        "http_user_agent", "http_referer", "http_forwarded_for", "tls_sni", "tls_version", "tls_cipher", "tcp_flags",
    ]
    public static let infectionColumns = [
        "day", "src_ip", "src_port", "src_asn", "family", "first_seen", "last_seen", "count",
    ]

    /// Appends the record as one JSON object and a newline.
    public func appendJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: field.name.utf8)
            out.append(contentsOf: "\":".utf8)
            switch field.value {
            case .integer(let value):
                out.append(contentsOf: String(value).utf8)
            case .text(let bytes):
                var rendered = [UInt8]()
                CSVField.appendEscaped(bytes, to: &rendered)
                out.append(UInt8(ascii: "\""))
                for byte in rendered {
                    // After rendering only `"` and `\` need escaping: no control bytes are left.
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                    out.append(byte)
                }
                out.append(UInt8(ascii: "\""))
            }
        }
        out.append(contentsOf: "}\n".utf8)
    }

    /// Appends the record as one CSV row (CRLF), text quoted and integers bare, as the
    /// Shadowserver files are.
    public func appendCSV(to out: inout [UInt8]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            switch field.value {
            case .integer(let value): CSVField.appendInteger(value, to: &out)
            case .text(let bytes): if !bytes.isEmpty { CSVField.appendText(bytes, to: &out) }
            }
        }
        out.append(contentsOf: ShadowserverRow.lineEnd)
    }

    /// The CSV header row for `columns`.
    public static func csvHeader(_ columns: [String]) -> [UInt8] {
        var out = [UInt8]()
        for (i, column) in columns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            CSVField.appendText(column, to: &out)
        }
        out.append(contentsOf: ShadowserverRow.lineEnd)
        return out
    }
}
