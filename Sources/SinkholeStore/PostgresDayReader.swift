import PostgresNIO
import SinkholeCore

/// Reads one UTC day of a PostgreSQL store for the feeds, on a connection of its own that
/// writes nothing, beside every node writing the database. Rows come in the same order as
/// `SQLiteDayReader`'s (by the database's collation for text), a page of `pageSize` at a time
/// by key (keyset pagination), so memory stays flat and no transaction is held open for the
/// length of an export.
public final class PostgresDayReader: StoredDayReader {
    private let connection: PostgresReadConnection
    let pageSize: Int

    public init(location: PostgresLocation, timeout: Duration = .seconds(30), pageSize: Int = 5_000) throws {
        connection = try PostgresReadConnection(location: location, timeout: timeout, label: "sinkhole.feeds")
        self.pageSize = pageSize
        guard try connection.hasMigration(9) else {
            throw PostgresStoreError(message: "the store predates the feeds' columns (schema migration 9); start this sinkhole once (`sinkhole run`) to upgrade it, then export again",
                                     location: location)
        }
    }

    public func counts(day: UTCTime) throws -> (checkIns: Int, dnsQueries: Int, infections: Int) {
        let start = day.dayStart
        var binds = PostgresBindings()
        binds.append(start.microseconds)
        binds.append(start.microseconds + 86_400_000_000)
        binds.append(start.seconds)
        binds.append(start.seconds + 86_400)
        binds.append(start.dayString)
        let row = try connection.rows("counting the day's rows", """
            SELECT (SELECT count(*) FROM checkins WHERE first_seen >= $1 AND first_seen < $2 AND family <> ''),
                   (SELECT count(*) FROM dns_queries WHERE hour >= $3 AND hour < $4 AND family <> ''),
                   (SELECT count(*) FROM infections WHERE day = $5)
            """, binds)
        let (a, b, c) = try row[0].decode((Int64, Int64, Int64).self)
        return (Int(a), Int(b), Int(c))
    }

    public func forEachCheckIn(day: UTCTime, _ body: (StoredCheckIn) throws -> Void) throws {
        let start = day.dayStart.microseconds
        var after: (Int64, String, String)? = nil
        while true {
            var binds = PostgresBindings()
            binds.append(after?.0 ?? start)
            binds.append(start + 86_400_000_000)
            binds.append(after?.1 ?? "")
            binds.append(after?.2 ?? "")
            binds.append(after == nil ? Int64(1) : 0)
            let rows = try connection.rows("reading check-ins", """
                SELECT node, event_id, first_seen, last_seen, count, transport, service, family, src_ip,
                       src_port::bigint, dst_ip, dst_port::bigint, name, http_method, http_path, http_version,
                       http_user_agent, http_referer, http_forwarded_for, tls_sni,
                       CASE WHEN tls_cipher <> '' THEN tls_cipher ELSE tls_offered_cipher END,
                       CASE WHEN tls_version <> '' THEN tls_version ELSE tls_offered_version END, tcp_flags::bigint
                FROM checkins
                WHERE first_seen >= $1 AND first_seen < $2 AND family <> ''
                  AND ($5 = 1 OR first_seen > $1 OR (node, event_id) > ($3, $4))
                ORDER BY first_seen, node, event_id LIMIT \(pageSize)
                """, binds)
            for row in rows {
                let r = row.makeRandomAccess()
                let record = StoredCheckIn(
                    node: try r[0].decode(String.self), eventID: try r[1].decode(String.self),
                    firstSeen: UTCTime(microseconds: try r[2].decode(Int64.self)),
                    lastSeen: UTCTime(microseconds: try r[3].decode(Int64.self)),
                    count: Int(try r[4].decode(Int64.self)), transport: try r[5].decode(String.self),
                    service: try r[6].decode(String.self), family: try r[7].decode(String.self),
                    source: try address(r[8].decode(String.self)), sourcePort: Int(try r[9].decode(Int64.self)),
                    destination: try address(r[10].decode(String.self)), destinationPort: Int(try r[11].decode(Int64.self)),
                    name: try bytes(r[12]), httpMethod: try bytes(r[13]), httpPath: try bytes(r[14]),
                    httpVersion: try r[15].decode(String.self), httpUserAgent: try bytes(r[16]),
                    httpReferer: try bytes(r[17]), httpForwardedFor: try bytes(r[18]), tlsServerName: try bytes(r[19]),
                    tlsCipher: try r[20].decode(String.self), tlsVersion: try r[21].decode(String.self),
                    tcpFlags: Int(try r[22].decode(Int64.self)))
                try body(record)
                after = (record.firstSeen.microseconds, record.node, record.eventID)
            }
            if rows.count < pageSize { return }
        }
    }
}

extension PostgresDayReader {
    public func forEachDNSQuery(day: UTCTime, _ body: (StoredDNSQuery) throws -> Void) throws {
        let hour = day.dayStart.seconds
        // The key's last position: (hour, src_ip, qname, qname_truncated, qtype).
        var after: (Int64, String, ByteBuffer, Int64, Int64)? = nil
        while true {
            var binds = PostgresBindings()
            binds.append(after?.0 ?? hour)
            binds.append(hour + 86_400)
            binds.append(after?.1 ?? "")
            binds.append(after?.2 ?? ByteBuffer())
            binds.append(after?.3 ?? 0)
            binds.append(after?.4 ?? 0)
            binds.append(after == nil ? Int64(1) : 0)
            let rows = try connection.rows("reading DNS rows", """
                SELECT hour, src_ip, last_src_port::bigint, qname, qtype::bigint, count, first_seen, last_seen, family,
                       qname_truncated::bigint
                FROM dns_queries
                WHERE hour >= $1 AND hour < $2 AND family <> ''
                  AND ($7 = 1 OR (hour, src_ip, qname, qname_truncated, qtype) > ($1, $3, $4, $5, $6))
                ORDER BY hour, src_ip, qname, qname_truncated, qtype LIMIT \(pageSize)
                """, binds)
            for row in rows {
                let r = row.makeRandomAccess()
                let qname = try r[3].decode(ByteBuffer.self)
                let record = StoredDNSQuery(
                    hour: UTCTime(seconds: try r[0].decode(Int64.self)), source: try address(r[1].decode(String.self)),
                    lastSourcePort: Int(try r[2].decode(Int64.self)), qname: Array(qname.readableBytesView),
                    qtype: Int(try r[4].decode(Int64.self)), count: Int(try r[5].decode(Int64.self)),
                    firstSeen: UTCTime(microseconds: try r[6].decode(Int64.self)),
                    lastSeen: UTCTime(microseconds: try r[7].decode(Int64.self)), family: try r[8].decode(String.self))
                try body(record)
                after = (record.hour.seconds, try r[1].decode(String.self), qname, try r[9].decode(Int64.self), Int64(record.qtype))
            }
            if rows.count < pageSize { return }
        }
    }

    public func forEachInfection(day: UTCTime, _ body: (StoredInfection) throws -> Void) throws {
        var after: (String, String)? = nil
        while true {
            var binds = PostgresBindings()
            binds.append(day.dayString)
            binds.append(after?.0 ?? "")
            binds.append(after?.1 ?? "")
            binds.append(after == nil ? Int64(1) : 0)
            let rows = try connection.rows("reading infections", """
                SELECT day, src_ip, family, first_seen, last_seen, count, last_src_port::bigint
                FROM infections WHERE day = $1 AND ($4 = 1 OR (src_ip, family) > ($2, $3))
                ORDER BY src_ip, family LIMIT \(pageSize)
                """, binds)
            for row in rows {
                let r = row.makeRandomAccess()
                let source = try r[1].decode(String.self)
                let family = try r[2].decode(String.self)
                try body(StoredInfection(
                    day: try r[0].decode(String.self), source: try address(source), family: family,
                    firstSeen: UTCTime(microseconds: try r[3].decode(Int64.self)),
                    lastSeen: UTCTime(microseconds: try r[4].decode(Int64.self)),
                    count: Int(try r[5].decode(Int64.self)), lastSourcePort: Int(try r[6].decode(Int64.self))))
                after = (source, family)
            }
            if rows.count < pageSize { return }
        }
    }

    private func bytes(_ cell: PostgresCell) throws -> [UInt8] {
        Array(try cell.decode(ByteBuffer.self).readableBytesView)
    }

    private func address(_ text: String) throws -> IPAddress {
        guard let address = IPAddress(text) else {
            throw PostgresStoreError(message: "a stored address is not an IP address: \(text.debugDescription)", location: connection.location)
        }
        return address
    }
}
