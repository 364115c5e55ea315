import NIOCore
import PostgresNIO
import SinkholeCore

/// A batch's summary and DNS rows as column arrays for `unnest(...)`: one statement per table
/// per batch, the parameters sent in binary, instead of one round trip per row (check-ins,
/// the wide rows, go by COPY: `PostgresCopyRows`).
///
/// PostgreSQL refuses an `INSERT … ON CONFLICT DO UPDATE` that touches the same row twice
/// ("command cannot affect row a second time"), so every array's key is unique: they are
/// dictionary keys mapped one to one onto their columns.
enum PostgresRows {
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
