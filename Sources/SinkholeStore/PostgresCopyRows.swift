import NIOCore
import SinkholeCore

/// A batch's check-in rows in the text format of `COPY … FROM STDIN` (pure: rows in, bytes
/// out), the columns in `PostgresCopyRows.checkInColumns` order.
///
/// Why COPY and not one statement of 42 arrays: the arrays cost a `String` or a `ByteBuffer`
/// per field per row to build and the server an `unnest` to take apart, about half of what
/// storing a new session cost; COPY is one buffer, written field by field, that the server
/// parses as it reads. Network bytes go into `bytea` columns as hex, so no byte a bot sends
/// (NUL, tab, a line feed, invalid UTF-8) can end a field or a row early.
enum PostgresCopyRows {
    /// The `checkins` columns a row carries, in the order `checkIns` writes them.
    static let checkInColumns = [
        "node", "event_id", "session_start", "first_seen", "last_seen", "count", "transport", "service", "family",
        "src_ip", "src_port", "dst_ip", "dst_port", "name", "name_truncated", "dns_type", "dns_rcode",
        "http_method", "http_path", "http_version", "http_user_agent", "http_referer",
        "http_forwarded_for", "http_content_length", "http_body_bytes", "http_body_sha256",
        "http_header_count", "http_status", "first_bytes", "truncated", "listener_port", "redirected",
        "tls_sni", "tls_offered_version", "tls_offered_cipher", "tls_offered_cipher_count",
        "tls_version", "tls_cipher", "tls_completed", "tcp_flags", "icmp_type", "icmp_code",
    ]

    static func checkIns(_ rows: [CheckInRow], node: String) -> ByteBuffer {
        var out = CopyText(capacity: rows.count * 360)
        for row in rows {
            let c = row.checkIn
            out.text(node)
            out.text(row.eventID)
            out.integer(PostgresSchema.sessionStart(eventID: row.eventID) ?? c.time.microseconds)
            out.integer(c.time.microseconds)
            out.integer(row.lastSeen.microseconds)
            out.integer(Int64(row.count))
            out.text(c.transport.name)
            out.text(c.service.name)
            out.text(c.family)
            out.address(c.source)
            out.integer(Int64(c.sourcePort))
            out.address(c.destination)
            out.integer(Int64(c.destinationPort))
            out.bytea(c.name)
            out.integer(c.name.truncated ? 1 : 0)
            out.integer(Int64(c.dnsType))
            out.integer(Int64(c.dnsRcode))
            out.bytea(c.httpMethod)
            out.bytea(c.httpPath)
            out.text(SQLiteStore.httpVersion(c.httpVersion))
            out.bytea(c.httpUserAgent)
            out.bytea(c.httpReferer)
            out.bytea(c.httpForwardedFor)
            if c.httpContentLength >= 0 { out.integer(c.httpContentLength) } else { out.null() }
            out.integer(c.httpBodyBytes)
            out.hex(c.httpBodyDigest)
            out.integer(Int64(c.httpHeaderCount))
            out.integer(Int64(c.httpStatus))
            out.bytea(c.firstBytes)
            out.text(SQLiteStore.truncatedFields(c))
            out.integer(Int64(c.listenerPort))
            out.integer(c.redirected ? 1 : 0)
            // As SQLiteStore writes them: names, hex for code points without one, empty when not TLS.
            out.bytea(c.tlsServerName)
            out.text(c.tlsOfferedVersion == 0 ? "" : TLSNames.version(c.tlsOfferedVersion))
            out.text(c.tlsOfferedCipherCount == 0 ? "" : TLSNames.cipherSuite(c.tlsOfferedCipher))
            out.integer(Int64(c.tlsOfferedCipherCount))
            out.text(c.tlsVersion == 0 ? "" : TLSNames.version(c.tlsVersion))
            out.text(c.tlsVersion == 0 ? "" : TLSNames.cipherSuite(c.tlsCipher))
            out.integer(c.tlsCompleted ? 1 : 0)
            out.integer(Int64(c.tcpFlags))
            out.integer(Int64(c.icmpType))
            out.integer(Int64(c.icmpCode))
            out.endRow()
        }
        return ByteBuffer(bytes: out.bytes)
    }
}

/// Fields in COPY's text format: tab between fields, a line feed after each row, `\N` for
/// NULL, and a backslash before the characters that would otherwise end or escape a field.
struct CopyText {
    private(set) var bytes: [UInt8] = []
    /// The next field is the first of its row: no tab before it.
    private var rowStart = true

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if !rowStart { bytes.append(UInt8(ascii: "\t")) }
        rowStart = false
    }

    mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        rowStart = true
    }

    mutating func null() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    mutating func integer(_ value: Int64) {
        separate()
        bytes.appendDecimal(value)
    }

    /// An address as its text: IPv4 written digit by digit (two per row, the common case),
    /// without the `String` its description would allocate.
    mutating func address(_ address: IPAddress) {
        guard let v4 = address.ipv4Value else { return text(address.description) }
        separate()
        for shift in [UInt32(24), 16, 8, 0] {
            bytes.appendDecimal(UInt64((v4 >> shift) & 0xff))
            if shift != 0 { bytes.append(UInt8(ascii: ".")) }
        }
    }

    /// Lowercase hex of the bytes as text (a digest); empty for none.
    mutating func hex<let n: Int>(_ value: BoundedBytes<n>) {
        separate()
        value.withBytes { bytes.appendLowercaseHex($0) }
    }

    mutating func text(_ value: String) {
        separate()
        var value = value
        value.withUTF8 { escape($0) }
    }

    /// Text stored as text (a family name from the configuration): invalid UTF-8 replaced,
    /// as the other stores' text columns have it.
    mutating func text<let n: Int>(_ value: BoundedBytes<n>) {
        text(value.text)
    }

    /// `\x` and two hex digits per byte: the bytea input format, its backslash doubled for COPY.
    mutating func bytea<let n: Int>(_ value: BoundedBytes<n>) {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "x"))
        value.withBytes { bytes.appendLowercaseHex($0) }
    }

    private mutating func escape(_ utf8: UnsafeBufferPointer<UInt8>) {
        if !utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            bytes.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            default: bytes.append(byte)
            }
        }
    }
}
