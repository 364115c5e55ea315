import SinkholeCore

/// Event-time rates the writer workloads are stamped at: the targets' rates, so what the
/// deduplicator keeps in its session window is what it would keep live at those rates.
enum WorkloadRates {
    static let unique = 150_000
    static let dns = 500_000
}

/// The 100:1 DNS workload: `keys` distinct (source, qname, qtype), each asked 100 times in
/// one UTC hour, from 256 resolvers, every other repeat with DNS 0x20 mixed letter case (which
/// the deduplicator folds).
enum DNSWorkload {
    static let repeats = 100
    static let resolvers = 256
    private static let names: [(lower: BoundedBytes<255>, mixed: BoundedBytes<255>)] = (0..<4096).map { n in
        let name = Fixtures.dgaName(n)
        let mixed = String(name.enumerated().map { $0.offset.isMultiple(of: 3) ? Character($0.element.uppercased()) : $0.element })
        return (BoundedBytes(name), BoundedBytes(mixed))
    }

    /// Key `key`'s query at `time`.
    static func event(key: Int, time: UTCTime, mixedCase: Bool) -> CheckIn {
        var event = Fixtures.dnsQuery(source: 0xCB00_7100 &+ UInt32(key % resolvers), port: 53_000, time: time)
        let name = names[(key / resolvers) % names.count]
        event.name = mixedCase ? name.mixed : name.lower
        event.dnsType = key / resolvers / names.count == 0 ? 1 : 28
        event.sourcePort = UInt16(truncatingIfNeeded: 1024 &+ key &* 31)
        return event
    }

    /// Event `i` of a run of `keys * 100` events. Clustered: a key's 100 queries arrive back to
    /// back (a bot retrying), so most fold inside one writer batch. Spread: the keys take turns
    /// (resolvers re-asking as their cache expires), so a key's next query is `keys` events later —
    /// in another batch whenever `keys` exceeds the batch size.
    static func event(_ i: Int, keys: Int, spread: Bool) -> CheckIn {
        let time = UTCTime(microseconds: Fixtures.hour.microseconds + Int64(i) * 1_000_000 / Int64(WorkloadRates.dns))
        let key = spread ? i % keys : i / repeats
        let repeatIndex = spread ? i / keys : i % repeats
        return event(key: key, time: time, mixedCase: repeatIndex & 1 == 1)
    }
}
