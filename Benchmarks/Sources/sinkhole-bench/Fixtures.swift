import SinkholeCore

/// The check-ins the benchmarks push, built the way the responders build them.
enum Fixtures {
    /// 2026-03-02T10:00:00Z: every generated event falls in this UTC hour.
    static let hour = UTCTime(seconds: 1_772_445_600)
    static let sinkholeAddress = IPAddress(ipv4: 0xC633_6407)  // 198.51.100.7
    /// A 20-byte qname, as a DGA bot asks for it.
    static let qname = "qx7fk2m9pl0v3ztr.com"

    /// A realistic DNS check-in: UDP/53 from a resolver, a 20-byte qname, type A, NOERROR.
    static func dnsQuery(source: UInt32 = 0xCB00_710A, port: UInt16 = 40_000,
                         qname: String = Fixtures.qname, time: UTCTime = hour) -> CheckIn {
        var event = CheckIn(time: time, source: IPAddress(ipv4: source), sourcePort: port,
                            destination: sinkholeAddress, destinationPort: 53, transport: .udp, service: .dns)
        event.name = BoundedBytes(qname)
        event.family = BoundedBytes("conficker")
        event.dnsType = 1
        event.dnsRcode = 0
        return event
    }

    /// A TCP session check-in from an infected host, attributed to a family (so it also counts
    /// in `infections`).
    static func tcpSession(source: UInt32, port: UInt16, time: UTCTime) -> CheckIn {
        var event = CheckIn(time: time, source: IPAddress(ipv4: source), sourcePort: port,
                            destination: sinkholeAddress, destinationPort: 443, transport: .tcp, service: .tcp)
        event.family = BoundedBytes("rustock")
        return event
    }

    /// The 1:1 workload's event `i`: a distinct session each; 8 sessions per bot address
    /// (distinct source ports), so `infections` gets one row per 8 events. Events are stamped
    /// `rate` per second of event time, so the 120 s session window holds what it would hold
    /// live at that rate.
    static func uniqueSession(_ i: Int, ratePerSecond: Int) -> CheckIn {
        tcpSession(source: 0x6440_0000 &+ UInt32(truncatingIfNeeded: i >> 3),  // 100.64.0.0/10
                   port: UInt16(49_152 + (i & 7) * 1_009),
                   time: UTCTime(microseconds: hour.microseconds + Int64(i) * 1_000_000 / Int64(ratePerSecond)))
    }

    /// The qnames of the 100:1 workload: 20 bytes each, distinct per key.
    static func dgaName(_ key: Int) -> String {
        let digits = String(key, radix: 36)
        return String(repeating: "q", count: 16 - digits.count) + digits + ".com"
    }
}
