import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("DNS over TCP: framing, the connection handler and its limits")
struct DNSTCPTests {
    static let time = UTCTime(seconds: 1_750_000_000, microseconds: 42)
    static let client = try! SocketAddress(ipAddress: "203.0.113.7", port: 40_053)
    static let server = try! SocketAddress(ipAddress: "192.0.2.53", port: 53)

    struct Connection {
        let channel: EmbeddedChannel
        let handler: DNSTCPHandler
        let ring: EventRing<CheckIn>
        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }
    }

    /// A connected channel with the production pipeline: frame decoder, then the handler.
    static func connect(
        configuration: DNSTCPHandler.Configuration = .init(), connections: DNSTCPConnections? = nil,
        ring: EventRing<CheckIn>? = nil, from client: SocketAddress = DNSTCPTests.client
    ) throws -> Connection {
        let ring = ring ?? EventRing<CheckIn>(name: "test", minimumCapacity: 256, filler: .blank)
        let handler = DNSTCPHandler(responder: try Fixtures.responder(), ring: ring,
                                    configuration: configuration, connections: connections, clock: { time })
        let channel = EmbeddedChannel(handlers: [ByteToMessageHandler(DNSTCPFrameDecoder()), handler])
        channel.localAddress = server
        try channel.connect(to: client).wait()
        return Connection(channel: channel, handler: handler, ring: ring)
    }

    /// A message with its two-byte length prefix (RFC 1035 §4.2.2).
    static func framed(_ message: [UInt8]) -> [UInt8] {
        WireQuery.u16(UInt16(message.count)) + message
    }

    /// Every reply written so far, split by its length prefix; checks each prefix is exact.
    static func replies(_ channel: EmbeddedChannel) throws -> [DecodedResponse] {
        var stream = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { stream.writeBuffer(&chunk) }
        var replies: [DecodedResponse] = []
        while let length = stream.readInteger(as: UInt16.self) {
            let slice = stream.readSlice(length: Int(length))
            let message = try #require(slice, "a reply shorter than its prefix")
            replies.append(try DecodedResponse(message))
        }
        #expect(stream.readableBytes == 0)
        return replies
    }

    static func events(_ ring: EventRing<CheckIn>) -> [CheckIn] {
        var events: [CheckIn] = []
        ring.drain { events.append($0) }
        return events
    }

    @Test("a query drip-fed one byte at a time is answered once, when its last byte arrives")
    func dripFed() throws {
        let c = try Self.connect()
        let bytes = Self.framed(WireQuery.make("evil.example", id: 7))
        for (i, byte) in bytes.enumerated() {
            try c.channel.writeInbound(buffer([byte]))
            if i < bytes.count - 1 { #expect(try c.channel.readOutbound(as: ByteBuffer.self) == nil) }
        }
        let replies = try Self.replies(c.channel)
        #expect(replies.map(\.header.id) == [7])
        #expect(replies.first?.addresses == [Fixtures.v4a, Fixtures.v4b])
        #expect(Self.events(c.ring).count == 1)
        #expect(c.channel.isActive)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("25 pipelined queries in one segment are all answered, in order, in one flush")
    func pipelined() throws {
        let c = try Self.connect()
        var burst = ByteBuffer()
        let names = (0..<25).map { $0 % 5 == 4 ? "www.example.com" : "q\($0).evil.example" }
        for (i, name) in names.enumerated() {
            burst.writeBytes(Self.framed(WireQuery.make(name, type: i % 2 == 0 ? 1 : 28, id: UInt16(i))))
        }
        c.channel.pipeline.syncOperations.fireChannelRead(NIOAny(burst))
        // Written, not flushed, until the read burst ends.
        #expect(try c.channel.readOutbound(as: ByteBuffer.self) == nil)
        c.channel.pipeline.syncOperations.fireChannelReadComplete()
        let replies = try Self.replies(c.channel)
        #expect(replies.map(\.header.id) == (0..<25).map(UInt16.init))
        for (i, reply) in replies.enumerated() {
            #expect(reply.header.rcode == (i % 5 == 4 ? DNSRcode.refused.rawValue : 0))
            #expect(reply.question?.name.presentation == names[i])
        }
        #expect(replies[0].addresses == [Fixtures.v4a, Fixtures.v4b] && replies[1].addresses == [Fixtures.v6a])
        #expect(c.handler.counts.queries == 25 && c.handler.counts.replies == 25)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a length prefix split from its message, and a message split across reads, reassemble")
    func partialPrefix() throws {
        let c = try Self.connect()
        let first = Self.framed(WireQuery.make("a.evil.example", id: 1))
        let second = Self.framed(WireQuery.make("b.evil.example", id: 2))
        try c.channel.writeInbound(buffer([first[0]]))
        try c.channel.writeInbound(buffer(Array(first[1...]) + Array(second[..<5])))
        #expect(try Self.replies(c.channel).map(\.header.id) == [1])
        try c.channel.writeInbound(buffer(Array(second[5...])))
        #expect(try Self.replies(c.channel).map(\.header.id) == [2])
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a zero-length frame closes the connection after answering what came before it")
    func zeroLength() throws {
        let c = try Self.connect()
        let bytes = Self.framed(WireQuery.make("evil.example", id: 3)) + [0, 0]
            + Self.framed(WireQuery.make("evil.example", id: 4))
        try c.channel.writeInbound(buffer(bytes))
        #expect(try Self.replies(c.channel).map(\.header.id) == [3])
        #expect(!c.channel.isActive)
        #expect(c.handler.counts.emptyFrames == 1 && Self.events(c.ring).count == 1)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a message not completed within the read timeout closes the connection; dripping does not extend it")
    func readTimeout() throws {
        let c = try Self.connect(configuration: .init(readTimeout: .seconds(1), idleTimeout: .seconds(10)))
        let bytes = Self.framed(WireQuery.make("evil.example"))
        try c.channel.writeInbound(buffer(Array(bytes[..<3])))
        c.loop.advanceTime(by: .milliseconds(600))
        try c.channel.writeInbound(buffer(Array(bytes[3..<6])))
        c.loop.advanceTime(by: .milliseconds(399))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .milliseconds(1))
        #expect(!c.channel.isActive)
        #expect(c.handler.counts.readTimeouts == 1 && c.handler.counts.queries == 0)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a completed message stops the read timeout")
    func readTimeoutCancelled() throws {
        let c = try Self.connect(configuration: .init(readTimeout: .seconds(1), idleTimeout: .seconds(10)))
        let bytes = Self.framed(WireQuery.make("evil.example"))
        try c.channel.writeInbound(buffer(Array(bytes[..<3])))
        c.loop.advanceTime(by: .milliseconds(900))
        try c.channel.writeInbound(buffer(Array(bytes[3...])))
        c.loop.advanceTime(by: .seconds(5))
        #expect(c.channel.isActive && c.handler.counts.readTimeouts == 0)
        #expect(try Self.replies(c.channel).count == 1)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a connection with no query for the idle timeout is closed; each query restarts it")
    func idleTimeout() throws {
        let c = try Self.connect(configuration: .init(readTimeout: .seconds(1), idleTimeout: .seconds(10)))
        c.loop.advanceTime(by: .seconds(6))
        try c.channel.writeInbound(buffer(Self.framed(WireQuery.make("evil.example"))))
        c.loop.advanceTime(by: .seconds(9))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .seconds(1))
        #expect(!c.channel.isActive)
        #expect(c.handler.counts.idleTimeouts == 1)
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("one check-in per message, transport tcp, addresses from the connection; silent messages too")
    func checkIns() throws {
        let c = try Self.connect(from: try SocketAddress(ipAddress: "::ffff:198.51.100.99", port: 50_000))
        let bytes = Self.framed(WireQuery.make("evil.example", id: 1))
            + Self.framed(WireQuery.make("evil.example", id: 2, flags: 0x8400))  // a response: no reply
            + Self.framed([1, 2, 3])  // a runt: no reply
            + Self.framed(WireQuery.make("www.example.com", id: 4))
        try c.channel.writeInbound(buffer(bytes))
        #expect(try Self.replies(c.channel).map(\.header.id) == [1, 4])
        #expect(c.channel.isActive, "a message without a reply must not end the connection")
        let events = Self.events(c.ring)
        #expect(events.count == 4)
        #expect(events.map(\.dnsRcode) == [0, CheckIn.noResponse, CheckIn.noResponse, DNSRcode.refused.rawValue])
        for event in events {
            #expect(event.transport == .tcp && event.service == .dns && event.time == Self.time)
            #expect(event.source == IPAddress("198.51.100.99")! && event.sourcePort == 50_000)
            #expect(event.destination == IPAddress("192.0.2.53")! && event.destinationPort == 53)
        }
        #expect(events[0].name.text == "evil.example" && events[0].family.text == "rustock")
        _ = try c.channel.finish(acceptAlreadyClosed: true)
    }

    @Test("at the limit the longest-idle connection is closed first; with none idle the newcomer is refused")
    func connectionTable() throws {
        let table = DNSTCPConnections(limit: 2)
        let t0 = NIODeadline.uptimeNanoseconds(1_000)
        let (a, b, c, d, e) = (EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel(), EmbeddedChannel())
        for channel in [a, b, c, d, e] { try channel.connect(to: Self.client).wait() }
        let slotA = try #require(table.admit(a, now: t0))
        let slotB = try #require(table.admit(b, now: t0 + .seconds(1)))
        // b was busy for a while and finished a message after a last did: a is idle longest.
        slotB.markBusy()
        slotB.markIdle(since: t0 + .seconds(3))
        slotA.markIdle(since: t0 + .seconds(2))
        let slotC = try #require(table.admit(c, now: t0 + .seconds(4)))
        #expect(!a.isActive && b.isActive && c.isActive)
        #expect(table.count == 2)
        // Both open connections mid-message: nothing is closed, the newcomer is refused.
        slotB.markBusy()
        slotC.markBusy()
        #expect(table.admit(d, now: t0 + .seconds(5)) == nil)
        #expect(b.isActive && c.isActive && table.count == 2)
        // c finishes its message: it is the only idle one, and makes room for e.
        slotC.markIdle(since: t0 + .seconds(6))
        #expect(table.admit(e, now: t0 + .seconds(7)) != nil)
        #expect(!c.isActive && b.isActive)
        // Releasing an evicted slot (its channel closing later) changes nothing.
        table.release(slotA)
        table.release(slotC)
        #expect(table.count == 2)
        #expect(table.counts == .init(admitted: 4, evicted: 2, refused: 1))
        // Shutdown: everything open is closed and nothing more is admitted.
        #expect(table.closeAll().count == 2)
        #expect(!b.isActive && !e.isActive)
        #expect(table.admit(d, now: t0 + .seconds(8)) == nil)
        for channel in [a, b, c, d, e] { _ = try channel.finish(acceptAlreadyClosed: true) }
    }

    @Test("handlers share the table: a busy connection is kept, an idle one is closed for a newcomer")
    func handlersShareTable() throws {
        let table = DNSTCPConnections(limit: 1)
        let first = try Self.connect(connections: table)
        let query = Self.framed(WireQuery.make("evil.example"))
        try first.channel.writeInbound(buffer(Array(query[..<3])))  // a message begun: busy
        let refused = try Self.connect(connections: table)
        #expect(!refused.channel.isActive && first.channel.isActive)
        try first.channel.writeInbound(buffer(Array(query[3...])))
        _ = try Self.replies(first.channel)
        let second = try Self.connect(connections: table)
        #expect(!first.channel.isActive && second.channel.isActive)
        #expect(table.count == 1 && table.counts == .init(admitted: 2, evicted: 1, refused: 1))
        for c in [first, refused, second] { _ = try c.channel.finish(acceptAlreadyClosed: true) }
        #expect(table.count == 0)
    }
}
