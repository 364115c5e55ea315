import NIOCore
import PostgresNIO
import SinkholeCore

/// A batch's rows as column arrays for `unnest(...)`: one statement per table per batch, the
/// parameters sent in binary, instead of one round trip per row.
///
/// PostgreSQL refuses an `INSERT … ON CONFLICT DO UPDATE` that touches the same row twice
/// ("command cannot affect row a second time"), so every array's key is unique: check-ins by
/// the deduplicator (one row per session per batch), the summaries by being dictionary keys
/// mapped one to one onto their columns. Debug builds check it.
enum PostgresRows {
    static func checkIns(_ rows: [CheckInRow], node: String) -> PostgresBindings {
        assert(Set(rows.map(\.eventID)).count == rows.count, "a batch repeats a check-in's event id")
        var eventID: [String] = [], sessionStart: [Int64] = [], firstSeen: [Int64] = [], lastSeen: [Int64] = []
        var count: [Int64] = [], transport: [String] = [], service: [String] = [], family: [String] = []
        var srcIP: [String] = [], srcPort: [Int64] = [], dstIP: [String] = [], dstPort: [Int64] = []
        var name: [ByteBuffer] = [], nameTruncated: [Int64] = [], dnsType: [Int64] = [], dnsRcode: [Int64] = []
        var method: [ByteBuffer] = [], path: [ByteBuffer] = [], version: [String] = [], userAgent: [ByteBuffer] = []
        var referer: [ByteBuffer] = [], forwardedFor: [ByteBuffer] = [], contentLength: [Int64] = []
        var bodyBytes: [Int64] = [], bodySHA256: [String] = [], headerCount: [Int64] = [], status: [Int64] = []
        var firstBytes: [ByteBuffer] = [], truncated: [String] = [], listenerPort: [Int64] = [], redirected: [Int64] = []
        var tlsSNI: [ByteBuffer] = [], tlsOfferedVersion: [String] = [], tlsOfferedCipher: [String] = []
        var tlsOfferedCipherCount: [Int64] = [], tlsVersion: [String] = [], tlsCipher: [String] = [], tlsCompleted: [Int64] = []
        var tcpFlags: [Int64] = [], icmpType: [Int64] = [], icmpCode: [Int64] = []
        for row in rows {
            let c = row.checkIn
            eventID.append(row.eventID)
            sessionStart.append(PostgresSchema.sessionStart(eventID: row.eventID) ?? c.time.microseconds)
            firstSeen.append(c.time.microseconds)
            lastSeen.append(row.lastSeen.microseconds)
            count.append(Int64(row.count))
            transport.append(c.transport.name)
            service.append(c.service.name)
            family.append(c.family.text)
            srcIP.append(c.source.description)
            srcPort.append(Int64(c.sourcePort))
            dstIP.append(c.destination.description)
            dstPort.append(Int64(c.destinationPort))
            name.append(buffer(c.name))
            nameTruncated.append(c.name.truncated ? 1 : 0)
            dnsType.append(Int64(c.dnsType))
            dnsRcode.append(Int64(c.dnsRcode))
            method.append(buffer(c.httpMethod))
            path.append(buffer(c.httpPath))
            version.append(SQLiteStore.httpVersion(c.httpVersion))
            userAgent.append(buffer(c.httpUserAgent))
            referer.append(buffer(c.httpReferer))
            forwardedFor.append(buffer(c.httpForwardedFor))
            // -1 stands for NULL (no Content-Length): postgres-nio sends no arrays of optionals.
            contentLength.append(c.httpContentLength >= 0 ? Int64(c.httpContentLength) : -1)
            bodyBytes.append(Int64(c.httpBodyBytes))
            bodySHA256.append(SQLiteStore.hex(c.httpBodyDigest))
            headerCount.append(Int64(c.httpHeaderCount))
            status.append(Int64(c.httpStatus))
            firstBytes.append(buffer(c.firstBytes))
            truncated.append(SQLiteStore.truncatedFields(c))
            listenerPort.append(Int64(c.listenerPort))
            redirected.append(c.redirected ? 1 : 0)
            // As SQLiteStore writes them: names, hex for code points without one, empty when not TLS.
            tlsSNI.append(buffer(c.tlsServerName))
            tlsOfferedVersion.append(c.tlsOfferedVersion == 0 ? "" : TLSNames.version(c.tlsOfferedVersion))
            tlsOfferedCipher.append(c.tlsOfferedCipherCount == 0 ? "" : TLSNames.cipherSuite(c.tlsOfferedCipher))
            tlsOfferedCipherCount.append(Int64(c.tlsOfferedCipherCount))
            tlsVersion.append(c.tlsVersion == 0 ? "" : TLSNames.version(c.tlsVersion))
            tlsCipher.append(c.tlsVersion == 0 ? "" : TLSNames.cipherSuite(c.tlsCipher))
            tlsCompleted.append(c.tlsCompleted ? 1 : 0)
            tcpFlags.append(Int64(c.tcpFlags))
            icmpType.append(Int64(c.icmpType))
            icmpCode.append(Int64(c.icmpCode))
        }
        var binds = PostgresBindings(capacity: 42)
        binds.append(node)
        binds.append(eventID); binds.append(sessionStart); binds.append(firstSeen); binds.append(lastSeen)
        binds.append(count); binds.append(transport); binds.append(service); binds.append(family)
        binds.append(srcIP); binds.append(srcPort); binds.append(dstIP); binds.append(dstPort)
        binds.append(name); binds.append(nameTruncated); binds.append(dnsType); binds.append(dnsRcode)
        binds.append(method); binds.append(path); binds.append(version); binds.append(userAgent)
        binds.append(referer); binds.append(forwardedFor); binds.append(contentLength)
        binds.append(bodyBytes); binds.append(bodySHA256); binds.append(headerCount); binds.append(status)
        binds.append(firstBytes); binds.append(truncated); binds.append(listenerPort); binds.append(redirected)
        binds.append(tlsSNI); binds.append(tlsOfferedVersion); binds.append(tlsOfferedCipher)
        binds.append(tlsOfferedCipherCount); binds.append(tlsVersion); binds.append(tlsCipher); binds.append(tlsCompleted)
        binds.append(tcpFlags); binds.append(icmpType); binds.append(icmpCode)
        return binds
    }

    static func infections(_ rows: [InfectionKey: InfectionRow]) -> PostgresBindings {
        var day: [String] = [], srcIP: [String] = [], family: [String] = []
        var firstSeen: [Int64] = [], lastSeen: [Int64] = [], count: [Int64] = [], port: [Int64] = []
        for (key, row) in rows {
            day.append(UTCTime(seconds: key.day).dayString)
            srcIP.append(key.source.description)
            family.append(key.family.text)
            firstSeen.append(row.firstSeen.microseconds)
            lastSeen.append(row.lastSeen.microseconds)
            count.append(Int64(row.count))
            port.append(Int64(row.lastSourcePort))
        }
        var binds = PostgresBindings(capacity: 7)
        binds.append(day); binds.append(srcIP); binds.append(family)
        binds.append(firstSeen); binds.append(lastSeen); binds.append(count); binds.append(port)
        return binds
    }

    static func dnsQueries(_ rows: [DNSQueryKey: DNSQueryRow]) -> PostgresBindings {
        var hour: [Int64] = [], srcIP: [String] = [], qname: [ByteBuffer] = [], qtype: [Int64] = []
        var count: [Int64] = [], firstSeen: [Int64] = [], lastSeen: [Int64] = [], rcode: [Int64] = []
        var family: [String] = [], qnameTruncated: [Int64] = [], rateLimited: [Int64] = [], port: [Int64] = []
        for (key, row) in rows {
            hour.append(key.hour)
            srcIP.append(key.source.description)
            qname.append(buffer(key.qname))
            qtype.append(Int64(key.qtype))
            count.append(Int64(row.count))
            firstSeen.append(row.firstSeen.microseconds)
            lastSeen.append(row.lastSeen.microseconds)
            rcode.append(Int64(row.lastRcode))
            family.append(row.family.text)
            // A qname cut at its bound is kept apart from the complete name it starts like.
            qnameTruncated.append(key.qname.truncated ? 1 : 0)
            rateLimited.append(Int64(row.rateLimited))
            port.append(Int64(row.lastSourcePort))
        }
        var binds = PostgresBindings(capacity: 12)
        binds.append(hour); binds.append(srcIP); binds.append(qname); binds.append(qtype)
        binds.append(count); binds.append(firstSeen); binds.append(lastSeen); binds.append(rcode)
        binds.append(family); binds.append(qnameTruncated); binds.append(rateLimited); binds.append(port)
        return binds
    }

    /// The summaries are folded again by the keys PostgreSQL compares: a `BoundedBytes` key
    /// also tells a name cut at its bound from the complete name of the same bytes, which the
    /// table cannot (a Host of exactly 255 bytes and a longer one sent by the same bot would
    /// otherwise repeat a conflict key and have the batch refused on every retry).
    static func serviceHours(_ rows: [ServiceHourKey: ServiceHourRow]) -> PostgresBindings {
        struct Key: Hashable { var hour: Int64, service: String, family: String }
        var folded: [Key: (events: Int64, sessions: Int64)] = [:]
        for (key, row) in rows {
            folded[Key(hour: key.hour, service: key.service.name, family: key.family.text), default: (0, 0)]
                .events += Int64(row.events)
            folded[Key(hour: key.hour, service: key.service.name, family: key.family.text), default: (0, 0)]
                .sessions += Int64(row.sessions)
        }
        var hour: [Int64] = [], service: [String] = [], family: [String] = [], events: [Int64] = [], sessions: [Int64] = []
        for (key, row) in folded {
            hour.append(key.hour)
            service.append(key.service)
            family.append(key.family)
            events.append(row.events)
            sessions.append(row.sessions)
        }
        var binds = PostgresBindings(capacity: 5)
        binds.append(hour); binds.append(service); binds.append(family); binds.append(events); binds.append(sessions)
        return binds
    }

    static func nameHours(_ rows: [NameHourKey: Int]) -> PostgresBindings {
        struct Key: Hashable { var hour: Int64, family: String, name: [UInt8] }
        var folded: [Key: Int64] = [:]
        for (key, count) in rows {
            folded[Key(hour: key.hour, family: key.family.text, name: key.name.withBytes { Array($0) }), default: 0] += Int64(count)
        }
        var hour: [Int64] = [], family: [String] = [], name: [ByteBuffer] = [], sessions: [Int64] = []
        for (key, count) in folded {
            hour.append(key.hour)
            family.append(key.family)
            name.append(ByteBuffer(bytes: key.name))
            sessions.append(count)
        }
        var binds = PostgresBindings(capacity: 4)
        binds.append(hour); binds.append(family); binds.append(name); binds.append(sessions)
        return binds
    }

    static func resolverHours(_ rows: [ResolverHourKey: Int]) -> PostgresBindings {
        struct Key: Hashable { var hour: Int64, source: String }
        var folded: [Key: Int64] = [:]
        for (key, count) in rows {
            folded[Key(hour: key.hour, source: key.source.description), default: 0] += Int64(count)
        }
        var hour: [Int64] = [], source: [String] = [], queries: [Int64] = []
        for (key, count) in folded {
            hour.append(key.hour)
            source.append(key.source)
            queries.append(count)
        }
        var binds = PostgresBindings(capacity: 3)
        binds.append(hour); binds.append(source); binds.append(queries)
        return binds
    }

    static func buffer<let n: Int>(_ bytes: BoundedBytes<n>) -> ByteBuffer {
        bytes.withBytes { ByteBuffer(bytes: $0) }
    }
}
