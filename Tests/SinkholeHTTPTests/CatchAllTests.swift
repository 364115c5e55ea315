import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

@Suite("Catch-all: first bytes and original destinations (pure)")
struct CatchAllReaderTests {
    @Test("bytes are kept up to read_bytes, in one read or many; more than that marks them truncated",
          arguments: [(64, [100], 64, true, true), (64, [10, 20], 30, false, false), (16, [16], 16, false, true),
                      (16, [10, 10], 16, true, true), (16, [1, 1, 1], 3, false, false), (0, [5], 0, true, true),
                      (64, [64, 0], 64, false, true)])
    func keepsFirstBytes(readBytes: Int, reads: [Int], kept: Int, truncated: Bool, complete: Bool) {
        var reader = CatchAllReader(readBytes: readBytes)
        var sent: [UInt8] = []
        for length in reads {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: sent.count + $0) }
            sent += bytes
            reader.consume(bytes)
        }
        #expect(reader.firstBytes.bytes == Array(sent.prefix(kept)))
        #expect(reader.firstBytes.truncated == truncated)
        #expect(reader.isComplete == complete)
        #expect(reader.received == sent.count)
    }

    @Test("read_bytes 0 is complete before anything arrives: the connect alone is logged")
    func zeroIsCompleteAtOnce() {
        #expect(CatchAllReader(readBytes: 0).isComplete)
        #expect(!CatchAllReader(readBytes: 1).isComplete)
    }

    static func arrival(_ address: String, _ port: UInt16) -> CheckIn {
        CheckIn(time: UTCTime(microseconds: 1), source: IPAddress("203.0.113.9")!, sourcePort: 5000,
                destination: IPAddress(address)!, destinationPort: port, transport: .tcp, service: .tcp)
    }

    @Test("the original destination replaces where the check-in arrived, which keeps the listener's port")
    func originalDestination() {
        var redirected = Self.arrival("198.51.100.10", 9000)
        redirected.recordCatchAll(original: (IPAddress("203.0.113.7")!, 4444))
        #expect(redirected.destination == IPAddress("203.0.113.7") && redirected.destinationPort == 4444)
        #expect(redirected.listenerPort == 9000 && redirected.redirected)

        // tproxy keeps the address and changes only the port the socket sees.
        var portOnly = Self.arrival("203.0.113.7", 9000)
        portOnly.recordCatchAll(original: (IPAddress("203.0.113.7")!, 5555))
        #expect(portOnly.destinationPort == 5555 && portOnly.listenerPort == 9000 && portOnly.redirected)

        // Conntrack reports an unredirected connection's own destination: not redirected.
        var direct = Self.arrival("127.0.0.1", 9000)
        direct.recordCatchAll(original: (IPAddress("127.0.0.1")!, 9000))
        #expect(direct.destination == IPAddress("127.0.0.1") && direct.destinationPort == 9000)
        #expect(direct.listenerPort == 9000 && !direct.redirected)

        // No conntrack at all: where it arrived is all there is.
        var unknown = Self.arrival("::1", 9000)
        unknown.recordCatchAll(original: nil)
        #expect(unknown.destination == IPAddress("::1") && unknown.destinationPort == 9000)
        #expect(unknown.listenerPort == 9000 && !unknown.redirected)
    }

    @Test("the other services leave the catch-all block empty")
    func otherServicesEmpty() {
        let checkIn = Self.arrival("198.51.100.10", 80)
        #expect(checkIn.listenerPort == 0 && !checkIn.redirected)
    }
}

@Suite("Catch-all TCP connection handler")
struct CatchAllTCPHandlerTests {
    static let time = UTCTime(seconds: 1_750_000_000, microseconds: 42)
    static let client = try! SocketAddress(ipAddress: "203.0.113.9", port: 40_080)
    static let listener = try! SocketAddress(ipAddress: "198.51.100.10", port: 9000)

    struct Connection {
        let channel: EmbeddedChannel
        let handler: CatchAllTCPHandler
        let ring: EventRing<CheckIn>
        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        func send(_ bytes: [UInt8]) throws { try channel.writeInbound(ByteBuffer(bytes: bytes)) }

        func events() -> [CheckIn] {
            var events: [CheckIn] = []
            ring.drain { events.append($0) }
            return events
        }
    }

    static func connect(readBytes: Int = 64, idle: TimeAmount = .seconds(5), connections: DNSTCPConnections? = nil,
                        original: (address: IPAddress, port: UInt16)? = nil,
                        from client: SocketAddress = CatchAllTCPHandlerTests.client) throws -> Connection {
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: 64, filler: CheckIn(
            time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0,
            transport: .udp, service: .dns))
        let zones = try SeizedZones(families: [SeizedFamily(name: "rustock", domains: ["evil.example"], answers: [])])
        let targets = SeizedTargets(zones: zones, addresses: [IPAddress("203.0.113.7")!: "conficker"])
        let handler = CatchAllTCPHandler(targets: targets, ring: ring,
                                         configuration: .init(readBytes: readBytes, idleTimeout: idle),
                                         connections: connections, original: original, clock: { time })
        let channel = EmbeddedChannel(handler: handler)
        channel.localAddress = listener
        try channel.connect(to: client).wait()
        return Connection(channel: channel, handler: handler, ring: ring)
    }

    @Test("read_bytes arrive: one tcp check-in with them, the original destination and the listener's port, then close")
    func logsFirstBytesAndCloses() throws {
        let c = try Self.connect(readBytes: 8, original: (IPAddress("203.0.113.7")!, 4444))
        try c.send(Array("SSH-".utf8))
        #expect(c.events().isEmpty && c.channel.isActive)
        try c.send(Array("2.0-x".utf8))
        #expect(!c.channel.isActive)
        let events = c.events()
        try #require(events.count == 1)
        let e = events[0]
        #expect(e.service == .tcp && e.transport == .tcp && e.time == Self.time)
        #expect(e.source == IPAddress("203.0.113.9") && e.sourcePort == 40_080)
        #expect(e.destination == IPAddress("203.0.113.7") && e.destinationPort == 4444)
        #expect(e.listenerPort == 9000 && e.redirected)
        #expect(e.family.text == "conficker", "labelled by the seized address it dialled")
        #expect(e.firstBytes.text == "SSH-2.0-" && e.firstBytes.truncated)
        #expect(e.httpMethod.isEmpty && e.name.isEmpty)
        #expect(c.handler.counts.checkIns == 1 && c.handler.counts.idleTimeouts == 0 && c.handler.counts.ringDrops == 0)
    }

    @Test("a connection that sends nothing is a check-in with no bytes once the idle timeout passes")
    func silentConnectionTimesOut() throws {
        let c = try Self.connect(idle: .seconds(5))
        c.loop.advanceTime(by: .seconds(4))
        #expect(c.channel.isActive && c.events().isEmpty)
        c.loop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].firstBytes.isEmpty && !events[0].firstBytes.truncated)
        #expect(events[0].destination == IPAddress("198.51.100.10") && events[0].destinationPort == 9000)
        #expect(events[0].listenerPort == 9000 && !events[0].redirected && events[0].family.isEmpty)
        #expect(c.handler.counts.idleTimeouts == 1)
    }

    @Test("bytes dripping in keep the connection open; the idle timeout counts from the last one")
    func dripResetsIdle() throws {
        let c = try Self.connect(readBytes: 64, idle: .seconds(5))
        for byte in Array("HELO".utf8) {
            c.loop.advanceTime(by: .seconds(4))
            try c.send([byte])
        }
        #expect(c.channel.isActive && c.events().isEmpty)
        c.loop.advanceTime(by: .seconds(5))
        #expect(!c.channel.isActive)
        #expect(c.events().map { $0.firstBytes.text } == ["HELO"])
    }

    @Test("the peer closing first logs what it sent, once")
    func peerCloseLogsOnce() throws {
        let c = try Self.connect()
        try c.send([0x16, 0x03, 0x01])
        _ = try c.channel.finish()
        c.loop.advanceTime(by: .seconds(60))
        let events = c.events()
        #expect(events.count == 1 && events.first?.firstBytes.bytes == [0x16, 0x03, 0x01])
    }

    @Test("read_bytes 0 logs the connect and closes at once")
    func zeroReadBytes() throws {
        let c = try Self.connect(readBytes: 0)
        #expect(!c.channel.isActive)
        #expect(c.events().count == 1)
    }

    @Test("at the connection limit the longest idle connection is closed and logged for a newcomer")
    func connectionLimit() throws {
        let table = DNSTCPConnections(limit: 2)
        let a = try Self.connect(connections: table, from: try SocketAddress(ipAddress: "203.0.113.1", port: 1))
        a.loop.advanceTime(by: .seconds(1))
        let b = try Self.connect(connections: table, from: try SocketAddress(ipAddress: "203.0.113.2", port: 2))
        try a.send([1])  // a was admitted first, but b has been idle longer now
        let c = try Self.connect(connections: table, from: try SocketAddress(ipAddress: "203.0.113.3", port: 3))
        b.loop.run()
        #expect(a.channel.isActive && !b.channel.isActive && c.channel.isActive)
        #expect(b.events().map { $0.source } == [IPAddress("203.0.113.2")!])
        #expect(table.count == 2 && table.counts.evicted == 1)
        _ = try? a.channel.finish()
        _ = try? c.channel.finish()
    }
}
