import CMallocCounter
import NIOCore
import SinkholeCore
import SinkholeDNS

/// One kind of query the DNS path benchmark sends, as the bytes of a datagram.
struct DNSPathQuery {
    var name: String
    var datagram: [UInt8]

    /// A query for `qname` (dotted) of type `type`, class IN, RD set; with an OPT record
    /// (payload 1232, DO set) when `edns`.
    init(_ name: String, qname: String, type: UInt16, edns: Bool = false) {
        self.name = name
        var bytes: [UInt8] = [0x5A, 0x17, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0]
        for label in qname.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes.append(contentsOf: label.utf8)
        }
        bytes += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        if edns {
            // Root owner, TYPE OPT, payload 1232, extended RCODE 0, version 0, DO, no RDATA.
            bytes += [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
        }
        datagram = bytes
    }

    /// A header counting one question, then a question cut off in its name: FORMERR.
    init(truncatedQuestion name: String) {
        self.name = name
        datagram = [0x5A, 0x17, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x65, 0x76]
    }

    /// The mix: answers at and below a seized apex, NODATA, REFUSED, EDNS, FORMERR.
    static let mix: [DNSPathQuery] = [
        DNSPathQuery("A, seized apex", qname: "evil.example", type: 1),
        DNSPathQuery("A, below apex (DGA name)", qname: "qx7fk2m9pl0v3ztr.evil.example", type: 1),
        DNSPathQuery("AAAA, below apex", qname: "qx7fk2m9pl0v3ztr.evil.example", type: 28),
        DNSPathQuery("MX, NODATA + SOA", qname: "www.evil.example", type: 15),
        DNSPathQuery("A, not seized: REFUSED", qname: "qx7fk2m9pl0v3ztr.example.com", type: 1),
        DNSPathQuery("A, EDNS + DO, 0x20 case", qname: "Qx7Fk2M9pL0v3ZtR.EviL.ExamplE", type: 1, edns: true),
        DNSPathQuery(truncatedQuestion: "question cut short: FORMERR"),
    ]
}

/// One kind's run through the per-query UDP path.
struct DNSPathRun {
    var queries: Int
    var replies: Int
    var rateLimited: Int
    var allocations: Int
    var frees: Int
    var seconds: Double
    var allocationsPerQuery: Double { Double(allocations) / Double(queries) }
    var freesPerQuery: Double { Double(frees) / Double(queries) }
    var nanosecondsPerQuery: Double { seconds * 1e9 / Double(queries) }
}

/// The responder the benchmark answers with: one family, one seized apex, an IPv4 and an
/// IPv6 answer, as `Deploy/sinkhole.dev.yaml` configures.
func dnsPathResponder() -> DNSResponder {
    let family = SeizedFamily(
        name: "conficker", domains: ["evil.example", "other.example"],
        answers: [IPAddress(ipv4: 0xC633_640A), IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 0x10)])
    do {
        return DNSResponder(zones: try SeizedZones(families: [family]), ttl: 300)
    } catch {
        fatalError("the benchmark's seized names are valid: \(error)")
    }
}

/// What `DNSUDPWorker.drain` keeps across datagrams, and its work per datagram minus the
/// system calls. A struct rather than a closure over local variables, whose captures would be
/// boxed and checked for exclusive access at run time on every query, which the worker is not.
struct DNSPathLoop {
    var exchange: DNSUDPExchange
    /// The worker's reused datagram buffer, `DatagramBatch.datagramSize` bytes.
    var datagram = ByteBufferAllocator().buffer(capacity: DNSPathLoop.datagramSize)
    let ring = EventRing<CheckIn>(name: "bench-dns", minimumCapacity: 1024, filler: Fixtures.dnsQuery())
    let bytes: [UInt8]
    var replies = 0
    var rateLimited = 0
    var checksum = 0
    static let datagramSize = 4096

    /// Build the `CheckIn`, copy the datagram into the reused buffer (as
    /// `DatagramBatch.copyDatagram` does), `DNSUDPExchange.answer`, read the reply (as
    /// `queueReply` copies it out), `EventRing.push`; then a consumer's `pop`, so the ring
    /// never fills.
    @inline(__always)
    mutating func handle(_ i: Int) {
        var checkIn = CheckIn(
            time: UTCTime(microseconds: Fixtures.hour.microseconds + Int64(i) * 24),
            source: IPAddress(ipv4: i & 1 == 0
                ? 0x0A00_0001 | UInt32(truncatingIfNeeded: (i >> 1) & 7) << 8  // 8 flooding /24s
                : 0x0B00_0001 | UInt32(truncatingIfNeeded: (i >> 1) & 4095) << 8),  // 4,096 quiet ones
            sourcePort: UInt16(truncatingIfNeeded: i), destination: Fixtures.sinkholeAddress,
            destinationPort: 53, transport: .udp, service: .dns)
        datagram.clear(minimumCapacity: Self.datagramSize)
        datagram.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.datagramSize) { [bytes] target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
            return bytes.count
        }
        if exchange.answer(datagram, checkIn: &checkIn) {
            exchange.reply.withUnsafeReadableBytes { checksum &+= $0.count &+ Int($0[3]) }
            replies += 1
        }
        if checkIn.rateLimited { rateLimited += 1 }
        _ = ring.push(checkIn)
        if let event = ring.pop() { checksum &+= Int(event.dnsRcode) &+ event.name.count }
    }
}

/// Runs `queries` datagrams of `query` through `DNSPathLoop`. Allocations are counted over the
/// timed loop only, after `warmUp` queries have grown every buffer to its working size.
///
/// With rate limiting on (BIND's defaults: 20/s, slip 2), queries are 24 µs of event time
/// apart, every other one from one of 8 flooding /24s (about 2,600/s each: limited from the
/// warm-up on, alternately slipped and dropped) and the rest from one of 4,096 quiet /24s
/// (about 5/s each: always sent), so every verdict is exercised at any `--scale`.
func runDNSPath(_ query: DNSPathQuery, responder: DNSResponder, rateLimit: ResponseRateLimiter.Settings,
                queries: Int, warmUp: Int) -> DNSPathRun {
    var loop = DNSPathLoop(exchange: DNSUDPExchange(responder: responder, rateLimit: rateLimit), bytes: query.datagram)
    for i in 0..<warmUp { loop.handle(i) }
    loop.replies = 0
    loop.rateLimited = 0
    let clock = ContinuousClock()
    sinkhole_malloc_counter_start()
    let start = clock.now
    for i in warmUp..<(warmUp + queries) { loop.handle(i) }
    let elapsed = clock.now - start
    let counts = sinkhole_malloc_counter_stop()
    blackHole(loop.checksum)
    let (s, atto) = elapsed.components
    return DNSPathRun(queries: queries, replies: loop.replies, rateLimited: loop.rateLimited,
                      allocations: Int(counts.allocations), frees: Int(counts.frees),
                      seconds: Double(s) + Double(atto) / 1e18)
}
