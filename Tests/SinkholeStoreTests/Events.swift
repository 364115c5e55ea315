import SinkholeCore
import SinkholeStore

/// Builds the check-ins the tests feed in. Times are seconds (and microseconds) after `base`,
/// a UTC midnight, so hours and days are easy to reason about.
enum Events {
    /// 2024-03-10T00:00:00Z.
    static let base = UTCTime(seconds: 1_710_028_800)

    static func at(_ seconds: Int64, micros: Int64 = 0) -> UTCTime {
        UTCTime(microseconds: base.microseconds + seconds * 1_000_000 + micros)
    }

    static func address(_ text: String) -> IPAddress {
        guard let address = IPAddress(text) else { fatalError("bad test address \(text)") }
        return address
    }

    /// The slot filler for test rings.
    static let blank = CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                               destination: .zero, destinationPort: 0, transport: .udp, service: .dns)

    static func dns(at time: UTCTime, source: String = "192.0.2.53", sourcePort: UInt16 = 5353,
                    qname: String = "c2.example", qtype: UInt16 = 1, rcode: UInt8 = 0,
                    family: String = "") -> CheckIn {
        dns(at: time, source: source, sourcePort: sourcePort, qnameBytes: Array(qname.utf8),
            qtype: qtype, rcode: rcode, family: family)
    }

    static func dns(at time: UTCTime, source: String = "192.0.2.53", sourcePort: UInt16 = 5353,
                    qnameBytes: [UInt8], qtype: UInt16 = 1, rcode: UInt8 = 0, family: String = "") -> CheckIn {
        var event = CheckIn(time: time, source: address(source), sourcePort: sourcePort,
                            destination: address("198.51.100.10"), destinationPort: 53,
                            transport: .udp, service: .dns)
        event.name = BoundedBytes(qnameBytes)
        event.dnsType = qtype
        event.dnsRcode = rcode
        event.family = BoundedBytes(family)
        return event
    }

    static func session(at time: UTCTime, service: CheckIn.Service = .http, transport: CheckIn.Transport = .tcp,
                        source: String = "203.0.113.7", sourcePort: UInt16 = 40_000,
                        destination: String = "198.51.100.10", destinationPort: UInt16 = 80,
                        family: String = "rustock", name: String = "", request: UInt32 = 0) -> CheckIn {
        session(at: time, service: service, transport: transport, source: source, sourcePort: sourcePort,
                destination: destination, destinationPort: destinationPort, family: family,
                nameBytes: Array(name.utf8), request: request)
    }

    static func session(at time: UTCTime, service: CheckIn.Service = .http, transport: CheckIn.Transport = .tcp,
                        source: String = "203.0.113.7", sourcePort: UInt16 = 40_000,
                        destination: String = "198.51.100.10", destinationPort: UInt16 = 80,
                        family: String = "rustock", nameBytes: [UInt8], request: UInt32 = 0) -> CheckIn {
        var event = CheckIn(time: time, source: address(source), sourcePort: sourcePort,
                            destination: address(destination), destinationPort: destinationPort,
                            transport: transport, service: service)
        event.family = BoundedBytes(family)
        event.name = BoundedBytes(nameBytes)
        event.requestIndex = request
        return event
    }

    /// The `index`th HTTP request of one keep-alive connection, with its own path.
    static func request(_ index: UInt32, at time: UTCTime, path: String, sourcePort: UInt16 = 40_000) -> CheckIn {
        var event = session(at: time, service: .http, sourcePort: sourcePort, name: "c2.example", request: index)
        event.httpMethod = BoundedBytes("GET")
        event.httpPath = BoundedBytes(path)
        event.httpStatus = 200
        return event
    }
}

/// Folds `events` with the given deduplicator and returns the batch (how tests build a
/// `StoreBatch` without reaching into the module's internals).
func fold(_ events: [CheckIn], into deduplicator: inout Deduplicator, now: UTCTime? = nil) -> StoreBatch {
    for event in events { deduplicator.add(event) }
    let latest = events.map(\.time).max() ?? Events.base
    return deduplicator.takeBatch(now: now ?? latest).batch
}

func fold(_ events: [CheckIn], windowSeconds: Int = 120) -> StoreBatch {
    var deduplicator = Deduplicator(sessionWindowSeconds: windowSeconds)
    return fold(events, into: &deduplicator)
}
