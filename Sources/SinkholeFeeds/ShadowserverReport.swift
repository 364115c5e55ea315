import SinkholeCore
import SinkholeStore

/// The Shadowserver sinkhole report types the daily export writes, with their exact header
/// rows, so that ISPs' IntelMQ ingests our files with its stock Shadowserver parser.
///
/// Headers are Shadowserver's public report schema (report_schema `reports.json`, 2026-03-24);
/// a test compares them with the copy in `Tests/Fixtures/shadowserver/`. IntelMQ picks the
/// parser from the file name (`YYYY-MM-DD-<report type>-<suffix>.csv`) and then maps columns by
/// header, so a renamed or reordered column would silently become `extra.` data.
public enum ShadowserverReport: String, CaseIterable, Sendable {
    case event4SinkholeHTTP = "event4_sinkhole_http"
    case event6SinkholeHTTP = "event6_sinkhole_http"
    case event4Sinkhole = "event4_sinkhole"
    case event6Sinkhole = "event6_sinkhole"
    case event4SinkholeDNS = "event4_sinkhole_dns"

    /// `YYYY-MM-DD-<report type>-<node>.csv`.
    public func fileName(day: String, node: String) -> String {
        "\(day)-\(rawValue)-\(node).csv"
    }

    /// The report a session belongs in: HTTP requests (plain, or inside TLS) go to the HTTP
    /// report of the source's family; TLS without a request, raw TCP and UDP and captured
    /// packets to the plain sinkhole report.
    public static func of(_ row: StoredCheckIn) -> ShadowserverReport {
        let http = !row.httpMethod.isEmpty && (row.service == "http" || row.service == "tls")
        switch (http, row.source.family) {
        case (true, .v4): return .event4SinkholeHTTP
        case (true, .v6): return .event6SinkholeHTTP
        case (false, .v4): return .event4Sinkhole
        case (false, .v6): return .event6Sinkhole
        }
    }

    static let sourceColumns = [
        "timestamp", "protocol", "src_ip", "src_port", "src_asn", "src_geo", "src_region", "src_city",
        "src_hostname", "src_naics", "src_sector", "device_vendor", "device_type", "device_model", "severity",
    ]
    static let destinationColumns = [
        "dst_ip", "dst_port", "dst_asn", "dst_geo", "dst_region", "dst_city", "dst_hostname", "dst_naics",
        "dst_sector", "public_source", "infection", "family", "tag", "application", "version", "event_id",
    ]

    /// The report's columns, in Shadowserver's order.
    public var columns: [String] {
        switch self {
        case .event4SinkholeHTTP, .event6SinkholeHTTP:
            Self.sourceColumns + Self.destinationColumns + [
                "http_url", "http_host", "http_agent", "forwarded_by", "ssl_cipher", "http_referer",
                "ssl_servername", "machine_name",
            ]
        case .event4Sinkhole, .event6Sinkhole:
            Self.sourceColumns + Self.destinationColumns + ["ssl_cipher", "ssl_servername"]
        case .event4SinkholeDNS:
            Self.sourceColumns + ["infection", "family", "tag", "query_type", "query", "count"]
        }
    }

    /// The header row, every name quoted as Shadowserver writes it, with CRLF.
    public var headerRow: [UInt8] { FeedRecord.csvHeader(columns) }
}

/// One data row of a Shadowserver report, rendered from a stored record.
///
/// Geolocation, hostnames, NAICS, sectors and device columns stay empty: the sinkhole does not
/// know them and a guess would be worse than nothing (IntelMQ leaves empty fields out).
public enum ShadowserverRow {
    /// RFC 4180 ends records with CRLF; Python's csv module (IntelMQ) accepts it.
    static let lineEnd: [UInt8] = [0x0D, 0x0A]

    /// A session's row in `report` (`ShadowserverReport.of(row)`). `event_id` is the node and
    /// the store's event id (unique per node), so it is stable across re-exports and unique
    /// across the nodes feeding one store.
    public static func checkIn(_ row: StoredCheckIn, asn: UInt32, report: ShadowserverReport, into out: inout [UInt8]) {
        var fields = Fields(out: out)
        fields.source(time: row.firstSeen, transport: row.transport, address: row.source, port: row.sourcePort,
                      asn: asn, severity: "critical")
        fields.text(row.destination.description)
        fields.integer(row.destinationPort)
        for _ in 0..<8 { fields.empty() }            // dst_asn … public_source
        fields.text(row.family)                      // infection
        fields.text(row.family)                      // family
        fields.empty()                               // tag
        let isHTTP = report == .event4SinkholeHTTP || report == .event6SinkholeHTTP
        if isHTTP {
            fields.text(row.service == "tls" ? "https" : "http")
            fields.text(row.httpVersion)
        } else {
            fields.text(row.service == "tls" ? "tls" : "")
            fields.text(row.service == "tls" ? row.tlsVersion : "")
        }
        fields.text("\(row.node)/\(row.eventID)")
        if isHTTP {
            fields.bytes(row.httpPath)
            fields.bytes(row.name)
            fields.bytes(row.httpUserAgent)
            fields.bytes(row.httpForwardedFor)
            fields.text(row.tlsCipher)
            fields.bytes(row.httpReferer)
            fields.bytes(row.tlsServerName)
            fields.text(row.node)
        } else {
            fields.text(row.tlsCipher)
            fields.bytes(row.tlsServerName)
        }
        out = fields.end()
    }

    /// A DNS row: one (hour, resolver, qname, qtype) with its `count`, stamped with the
    /// hour's first query. Severity `info`: the sources are mostly ISPs' resolvers, not
    /// infected hosts.
    public static func dnsQuery(_ row: StoredDNSQuery, asn: UInt32, into out: inout [UInt8]) {
        var fields = Fields(out: out)
        fields.source(time: row.firstSeen, transport: "udp", address: row.source, port: row.lastSourcePort,
                      asn: asn, severity: "info")
        fields.text(row.family)
        fields.text(row.family)
        fields.empty()
        fields.text(DNSTypeNames.name(UInt16(truncatingIfNeeded: row.qtype)))
        fields.bytes(row.qname)
        fields.integer(row.count)
        out = fields.end()
    }

    /// Appends fields with their separators.
    struct Fields {
        var out: [UInt8]
        var first = true

        mutating func separator() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
        }
        mutating func text(_ value: String) {
            separator()
            if !value.isEmpty { CSVField.appendText(value, to: &out) }
        }
        mutating func bytes(_ value: [UInt8]) {
            separator()
            if !value.isEmpty { CSVField.appendText(value, to: &out) }
        }
        mutating func integer(_ value: some BinaryInteger) {
            separator()
            CSVField.appendInteger(value, to: &out)
        }
        mutating func empty() { separator() }

        /// timestamp … severity: the columns every sinkhole report starts with.
        mutating func source(time: UTCTime, transport: String, address: IPAddress, port: Int, asn: UInt32, severity: String) {
            text(time.secondsString)
            text(transport)
            text(address.description)
            integer(port)
            integer(asn)
            for _ in 0..<9 { empty() }               // src_geo … device_model
            text(severity)
        }

        consuming func end() -> [UInt8] {
            out.append(contentsOf: lineEnd)
            return out
        }
    }
}
