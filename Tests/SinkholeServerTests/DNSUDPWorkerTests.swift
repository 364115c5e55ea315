@testable import SinkholeServer
import Foundation
import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

/// The UDP worker thread over real loopback sockets: datagrams sent from test sockets, replies
/// read back with the address they came from, and the worker's ring drained once it has
/// stopped. Every wait is bounded (poll with a timeout); nothing here measures speed.
@Suite("The UDP worker over loopback sockets")
struct DNSUDPWorkerTests {
    static let answers = [IPAddress("198.51.100.10")!, IPAddress("198.51.100.11")!, IPAddress("2001:db8::10")!]
    static let families = [SeizedFamily(name: "rustock", domains: ["evil.example"], answers: answers)]
    /// Rate limiting off: most tests send many queries from one address.
    static let unlimited = ResponseRateLimiter.Settings(responsesPerSecond: 0)

    static func responder(_ families: [SeizedFamily] = families) throws -> DNSResponder {
        DNSResponder(zones: try SeizedZones(families: families), ttl: 300)
    }

    /// A UDP socket as `DNSService` opens it, with the port the kernel gave when `port` is 0.
    static func socket(_ host: String, port: UInt16 = 0) throws -> DNSUDPWorker.Socket {
        let address = ListenAddress(IPAddress(host)!, port: port)
        let descriptor = try UDPSocket.open(address, reusePort: true, receiveBufferBytes: 1 << 20)
        return DNSUDPWorker.Socket(descriptor: descriptor,
                                   local: ListenAddress(address.address, port: UDPSocket.boundPort(descriptor)))
    }

    static func worker(_ sockets: [DNSUDPWorker.Socket], ringCapacity: Int = 1024, live: LiveResponder,
                       rateLimit: ResponseRateLimiter.Settings = unlimited, name: String = "dns-udp-test") -> DNSUDPWorker {
        DNSUDPWorker(name: name, sockets: sockets,
                     ring: EventRing(name: name, minimumCapacity: ringCapacity, filler: .blank),
                     live: live, rateLimit: rateLimit)
    }

    /// Starts `workers`, runs `body`, then stops them (whether `body` threw or not), waits until
    /// they have finished and closes their sockets, as `DNSService.run` does. With `start`
    /// false they start only after `body`, and are asked to stop at once: what `body` sent
    /// waits in the sockets for the drain that follows a stop.
    static func running(_ workers: [DNSUDPWorker], start: Bool = true, _ body: () throws -> Void) async throws {
        if start { for worker in workers { worker.start() } }
        var failure: (any Error)?
        do { try body() } catch { failure = error }
        if !start { for worker in workers { worker.start() } }
        for worker in workers { worker.stop() }
        for worker in workers { await worker.waitUntilFinished() }
        for socket in workers.flatMap(\.sockets) { close(socket.descriptor) }
        if let failure { throw failure }
    }

    @Test("each datagram gives one check-in with its sender, destination, port, transport and arrival time; each sender gets its reply")
    func repliesAndCheckIns() async throws {
        let v4 = try Self.socket("127.0.0.1")
        let v6 = try Self.socket("::1")
        let worker = Self.worker([v4, v6], live: LiveResponder(try Self.responder()))
        let peers = [try LoopbackPeer("127.0.0.1"), try LoopbackPeer("127.0.0.5"), try LoopbackPeer("::1")]
        let before = UTCTime.now()
        var after = before
        try await Self.running([worker]) {
            for (i, peer) in peers.enumerated() {
                let server = peer.isIPv6 ? v6 : v4
                peer.send(dnsQuery("Evil.Example", id: UInt16(0x100 + i)), to: peer.isIPv6 ? "::1" : "127.0.0.1",
                          port: server.local.port)
            }
            for (i, peer) in peers.enumerated() {
                let reply = try #require(peer.receive(), "no reply to \(peer.host)")
                #expect(reply.host == (peer.isIPv6 ? "::1" : "127.0.0.1"))
                #expect(reply.port == (peer.isIPv6 ? v6 : v4).local.port)
                let decoded = try DecodedReply(reply.bytes)
                #expect(decoded.header.id == UInt16(0x100 + i))
                #expect(decoded.header.rcode == 0 && decoded.header.authoritativeAnswer && !decoded.header.truncated)
                #expect(decoded.question == "Evil.Example")
                #expect(decoded.addresses == Array(Self.answers.prefix(2)))
            }
            after = UTCTime.now()
        }
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.count == 3)
        let bySource = Dictionary(grouping: events) { "\($0.source)|\($0.sourcePort)" }
        for peer in peers {
            let event = try #require(bySource["\(peer.host)|\(peer.port)"]?.first, "no check-in from \(peer.host):\(peer.port)")
            #expect(bySource["\(peer.host)|\(peer.port)"]?.count == 1)
            let server = peer.isIPv6 ? v6 : v4
            #expect(event.destination == server.local.address && event.destinationPort == server.local.port)
            #expect(event.transport == .udp && event.service == .dns)
            #expect(event.name.text == "Evil.Example" && event.family.text == "rustock")
            #expect(event.dnsType == 1 && event.dnsRcode == 0 && !event.rateLimited)
            // The kernel's arrival time (SO_TIMESTAMP) lies between the send and the reply;
            // a second of slack either side for clock granularity, not for speed.
            #expect(event.time.microseconds >= before.microseconds - 1_000_000, "\(event.time) before \(before)")
            #expect(event.time.microseconds <= after.microseconds + 1_000_000, "\(event.time) after \(after)")
        }
        #expect(worker.counts.datagrams == 3 && worker.counts.replies == 3)
        #expect(worker.counts.ringDrops == 0 && worker.counts.unsentReplies == 0 && worker.counts.socketErrors == 0)
    }

    @Test("on a wildcard socket the destination is the address the datagram was sent to, and the reply comes from it",
          arguments: [("0.0.0.0", "127.0.0.1", ["127.0.0.2", "127.0.0.1", "127.0.0.2"]), ("::", "::1", ["::1"])])
    func wildcardDestination(listen: String, from source: String, targets: [String]) async throws {
        let wildcard = try Self.socket(listen)
        let worker = Self.worker([wildcard], live: LiveResponder(try Self.responder()))
        let peer = try LoopbackPeer(source)
        try await Self.running([worker]) {
            for (i, target) in targets.enumerated() {
                peer.send(dnsQuery("c2.evil.example", id: UInt16(i)), to: target, port: wildcard.local.port)
                let reply = try #require(peer.receive(), "no reply from \(target)")
                #expect(reply.host == target, "the reply to a query sent to \(target) came from \(reply.host)")
                #expect(reply.port == wildcard.local.port)
                #expect(try DecodedReply(reply.bytes).header.id == UInt16(i))
            }
        }
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.map(\.destination) == targets.map { IPAddress($0)! })
        #expect(events.allSatisfy { $0.destinationPort == wildcard.local.port && $0.sourcePort == peer.port })
        #expect(events.allSatisfy { $0.source == IPAddress(source)! && $0.dnsRcode == 0 })
    }

    /// Sends probes to `socket` and reads them back until one carries its arrival time
    /// (bounded), then leaves the socket empty.
    static func waitForArrivalStamps(on socket: DNSUDPWorker.Socket, from peer: LoopbackPeer) throws {
        let probe = try #require(DatagramBatch(capacity: 1, replySize: 1))
        let deadline = ContinuousClock.now + .seconds(10)
        var stamped = false
        var readable: [UInt8] = [0]
        while !stamped && ContinuousClock.now < deadline {
            peer.send([0], to: "127.0.0.1", port: socket.local.port)
            UDPSocket.waitReadable([socket.descriptor], timeoutMilliseconds: 100, readable: &readable)
            if case .success(let n) = probe.receive(from: socket.descriptor), n > 0 { stamped = probe.arrival(0) != nil }
        }
        while case .success(let n) = probe.receive(from: socket.descriptor), n > 0 {}
        try #require(stamped, "the kernel never stamped a datagram's arrival")
    }

    @Test("the check-in time is the kernel's arrival time, not the time the worker got round to the datagram")
    func arrivalTime() async throws {
        let server = try Self.socket("127.0.0.1")
        let worker = Self.worker([server], live: LiveResponder(try Self.responder()))
        let peer = try LoopbackPeer()
        // Linux turns receive timestamps on for the whole stack from a work queue after the
        // first socket asks (net_enable_timestamp), so a datagram sent at once may arrive
        // unstamped and get the time it is read instead (1 run in 3 on a loaded machine).
        // A sinkhole's sockets are open long before its traffic: wait until the kernel
        // stamps a probe, rather than for a time a loaded machine may overrun.
        try Self.waitForArrivalStamps(on: server, from: peer)
        // Queued before the worker runs: read 200 ms after it arrived, at the earliest.
        peer.send(dnsQuery("early.evil.example", id: 1), to: "127.0.0.1", port: server.local.port)
        let sent = UTCTime.now()
        try await Task.sleep(for: .milliseconds(200))
        let started = UTCTime.now()
        try await Self.running([worker]) {
            _ = try #require(peer.receive())
        }
        let event = try #require(worker.ring.pop())
        #expect(event.name.text == "early.evil.example")
        // On loopback the datagram is queued, and stamped, before sendto returns; 1 ms of
        // slack for the two clocks' granularity.
        #expect(event.time.microseconds <= sent.microseconds + 1000,
                "stamped \(event.time), sent by \(sent), worker started \(started)")
        #expect(event.time.microseconds >= sent.microseconds - 1_000_000)
    }

    @Test("a datagram that gets no reply (a response, a runt, an empty one) is still logged once, with no reply sent")
    func silentDatagrams() async throws {
        let server = try Self.socket("127.0.0.1")
        let worker = Self.worker([server], live: LiveResponder(try Self.responder()))
        let peer = try LoopbackPeer()
        var response = dnsQuery("evil.example", id: 0x0A0A)
        response[2] |= 0x80  // QR: a response, never answered (reflection loops)
        try await Self.running([worker]) {
            peer.send(response, to: "127.0.0.1", port: server.local.port)
            peer.send([1, 2, 3], to: "127.0.0.1", port: server.local.port)
            peer.send([], to: "127.0.0.1", port: server.local.port)
            // One socket, one worker: replies leave in arrival order, so the first reply read
            // being the marker's means the three before it got none.
            peer.send(dnsQuery("marker.evil.example", id: 0x0B0B), to: "127.0.0.1", port: server.local.port)
            let reply = try #require(peer.receive())
            #expect(try DecodedReply(reply.bytes).header.id == 0x0B0B)
        }
        #expect(peer.receive(timeoutMilliseconds: 200) == nil, "nothing more was sent")
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.map(\.dnsRcode) == [CheckIn.noResponse, CheckIn.noResponse, CheckIn.noResponse, 0])
        #expect(events.map { $0.name.text } == ["", "", "", "marker.evil.example"])
        #expect(events.allSatisfy { $0.sourcePort == peer.port && $0.transport == .udp && !$0.rateLimited })
        #expect(worker.counts.datagrams == 4 && worker.counts.replies == 1)
    }

    @Test("a full ring drops the check-in and counts it, and the bot still gets its answer")
    func fullRing() async throws {
        let server = try Self.socket("127.0.0.1")
        let worker = Self.worker([server], ringCapacity: 1, live: LiveResponder(try Self.responder()))
        let peers = [try LoopbackPeer(), try LoopbackPeer()]
        try await Self.running([worker]) {
            for (i, peer) in peers.enumerated() {
                peer.send(dnsQuery("evil.example", id: UInt16(i)), to: "127.0.0.1", port: server.local.port)
                let reply = try #require(peer.receive(), "bot \(i) got no answer")
                #expect(try DecodedReply(reply.bytes).addresses == Array(Self.answers.prefix(2)))
            }
        }
        #expect(worker.counts.ringDrops == 1 && worker.counts.replies == 2)
        #expect(worker.ring.counts == EventRing<CheckIn>.Counts(accepted: 1, dropped: 1, consumed: 0))
        #expect(worker.ring.pop()?.sourcePort == peers[0].port)
    }

    @Test("a datagram longer than the batch's slot is counted as oversized, answered from its start and logged",
          arguments: [(DatagramBatch.datagramSize, false), (DatagramBatch.datagramSize + 1, true), (9000, true)])
    func oversizedDatagram(length: Int, oversized: Bool) async throws {
        let server = try Self.socket("127.0.0.1")
        let worker = Self.worker([server], live: LiveResponder(try Self.responder()))
        let peer = try LoopbackPeer()
        // A valid query, then zeros: bytes after the records the header counts are ignored.
        let query = dnsQuery("big.evil.example", id: 0x4242)
        try await Self.running([worker]) {
            peer.send(query + [UInt8](repeating: 0, count: length - query.count), to: "127.0.0.1", port: server.local.port)
            let reply = try #require(peer.receive())
            let decoded = try DecodedReply(reply.bytes)
            #expect(decoded.header.id == 0x4242 && decoded.addresses == Array(Self.answers.prefix(2)))
        }
        #expect(worker.counts.oversizedDatagrams == (oversized ? 1 : 0))
        #expect(worker.counts.datagrams == 1)
        let event = try #require(worker.ring.pop())
        #expect(event.name.text == "big.evil.example" && event.dnsRcode == 0 && event.family.text == "rustock")
    }

    @Test("a reload published while the worker runs answers every later datagram")
    func reload() async throws {
        let server = try Self.socket("127.0.0.1")
        let live = LiveResponder(try Self.responder())
        let worker = Self.worker([server], live: live)
        let peer = try LoopbackPeer()
        let moved = Self.families + [SeizedFamily(name: "necurs", domains: ["flip.example"],
                                                  answers: [IPAddress("203.0.113.7")!])]
        try await Self.running([worker]) {
            peer.send(dnsQuery("x.flip.example", id: 1), to: "127.0.0.1", port: server.local.port)
            #expect(try DecodedReply(try #require(peer.receive()).bytes).header.rcode == 5, "not seized yet: REFUSED")
            live.publish(try Self.responder(moved))
            for id in UInt16(2)...4 {
                peer.send(dnsQuery("x.flip.example", id: id), to: "127.0.0.1", port: server.local.port)
                let reply = try DecodedReply(try #require(peer.receive()).bytes)
                #expect(reply.header.id == id && reply.header.rcode == 0)
                #expect(reply.addresses == [IPAddress("203.0.113.7")!])
            }
        }
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.map(\.dnsRcode) == [5, 0, 0, 0])
        #expect(events.map { $0.family.text } == ["", "necurs", "necurs", "necurs"])
    }

    @Test("stop answers and logs the datagrams already queued in the socket before the worker finishes",
          arguments: [false, true])
    func stopDrainsTheSocket(alreadyRunning: Bool) async throws {
        let server = try Self.socket("127.0.0.1")
        let worker = Self.worker([server], live: LiveResponder(try Self.responder()))
        let peer = try LoopbackPeer()
        let count = 100
        // Not yet running: every datagram waits in the socket, so only the drain after stop
        // can answer them. Running: stop comes right after the last send, mid-flight.
        try await Self.running([worker], start: alreadyRunning) {
            for i in 0..<count {
                peer.send(dnsQuery("q\(i).evil.example", id: UInt16(i)), to: "127.0.0.1", port: server.local.port)
            }
        }
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.count == count)
        #expect(Set(events.map { $0.name.text }) == Set((0..<count).map { "q\($0).evil.example" }))
        #expect(worker.counts.datagrams == count && worker.counts.replies == count)
        // The worker has finished, so every reply is already in the peer's socket.
        let ids = Set(peer.receiveAll(quietMilliseconds: 200).compactMap { try? DecodedReply($0.bytes).header.id })
        #expect(ids == Set((0..<count).map(UInt16.init)))
    }

    @Test("two workers on SO_REUSEPORT sockets of one port both serve, and each datagram is logged by exactly one")
    func reusePortWorkers() async throws {
        let first = try Self.socket("127.0.0.1")
        let second = try Self.socket("127.0.0.1", port: first.local.port)
        let live = LiveResponder(try Self.responder())
        let workers = [Self.worker([first], live: live, name: "dns-udp-a"), Self.worker([second], live: live, name: "dns-udp-b")]
        // The kernel picks a socket by a hash of the sender, so many source ports reach both.
        let peers = try (0..<64).map { _ in try LoopbackPeer() }
        try await Self.running(workers) {
            for (i, peer) in peers.enumerated() {
                peer.send(dnsQuery("p\(i).evil.example", id: UInt16(i)), to: "127.0.0.1", port: first.local.port)
            }
            for (i, peer) in peers.enumerated() {
                let reply = try #require(peer.receive(), "peer \(i) got no answer")
                let decoded = try DecodedReply(reply.bytes)
                #expect(reply.port == first.local.port && decoded.header.id == UInt16(i))
            }
        }
        var events: [CheckIn] = []
        for worker in workers { worker.ring.drain { events.append($0) } }
        #expect(events.count == peers.count)
        #expect(Set(events.map(\.sourcePort)) == Set(peers.map(\.port)))
        #expect(Set(events.map { $0.name.text }) == Set(peers.indices.map { "p\($0).evil.example" }))
        #expect(workers.allSatisfy { $0.counts.datagrams > 0 }, "\(workers.map(\.counts.datagrams))")
        #expect(workers.map(\.counts.datagrams).reduce(0, +) == peers.count)
    }

    @Test("the worker applies its rate limit: limited queries slip or go unanswered and are logged as rate limited")
    func rateLimited() async throws {
        let server = try Self.socket("127.0.0.1")
        let settings = ResponseRateLimiter.Settings(responsesPerSecond: 5, window: 5, slip: 2)
        let worker = Self.worker([server], live: LiveResponder(try Self.responder()), rateLimit: settings)
        let peer = try LoopbackPeer()
        let count = 20
        let start = ContinuousClock.now
        var elapsed = Duration.zero
        try await Self.running([worker]) {
            for i in 0..<count {
                peer.send(dnsQuery("r\(i).evil.example", id: UInt16(i)), to: "127.0.0.1", port: server.local.port)
            }
            elapsed = ContinuousClock.now - start
        }
        let replies = try peer.receiveAll(quietMilliseconds: 200).map { try DecodedReply($0.bytes) }
        let full = replies.filter { !$0.header.truncated && $0.addresses.count == 2 }
        let slips = replies.filter { $0.header.truncated && $0.header.answerCount == 0 }
        #expect(full.count + slips.count == replies.count, "every reply is a full answer or a slip")
        // The burst is credited at most 5 per second of its own duration.
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(full.count >= 5 && Double(full.count) <= 5 + 5 * seconds, "\(full.count) full in \(elapsed)")
        let limited = count - full.count
        #expect(abs(slips.count - (limited + 1) / 2) <= 1, "\(slips.count) slips of \(limited) limited")
        var events: [CheckIn] = []
        worker.ring.drain { events.append($0) }
        #expect(events.count == count, "limited queries are logged too")
        #expect(events.filter(\.rateLimited).count == limited)
        #expect(events.allSatisfy { $0.dnsRcode == 0 && $0.family.text == "rustock" })
        #expect(worker.counts.replies == full.count + slips.count)
    }
}

/// The parts of a reply these tests check, read with the production wire reader.
struct DecodedReply {
    var header: DNSHeader
    var question: String?
    /// The A and AAAA answers, in order.
    var addresses: [IPAddress] = []

    init(_ bytes: [UInt8]) throws {
        var reader = DNSWireReader(message: ByteBuffer(bytes: bytes))
        header = try DNSHeader(reading: &reader)
        if header.questionCount == 1 { question = try DNSQuestion(reading: &reader).name.presentation }
        for _ in 0..<header.answerCount {
            _ = try reader.readName()
            let type = try reader.readUInt16()
            try reader.skip(6)  // class, TTL
            let length = Int(try reader.readUInt16())
            let start = reader.offset
            try reader.skip(length)
            if type == 1 || type == 28, let address = IPAddress(bytes: (start..<reader.offset).compactMap { reader.byte(at: $0) }) {
                addresses.append(address)
            }
        }
    }
}

extension CheckIn {
    /// A blank event to fill a ring's slots.
    static var blank: CheckIn {
        CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0,
                transport: .udp, service: .dns)
    }
}
