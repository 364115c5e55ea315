import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS
import Testing

@Suite("The UDP channel handler")
struct DNSUDPHandlerTests {
    static let local = IPAddress("192.0.2.53")!
    static let time = UTCTime(seconds: 1_750_000_000, microseconds: 123_456)

    static func makeChannel(ringCapacity: Int = 64) throws -> (EmbeddedChannel, DNSUDPHandler, EventRing<CheckIn>) {
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: ringCapacity, filler: .blank)
        let handler = DNSUDPHandler(
            responder: try Fixtures.responder(), ring: ring,
            localAddress: local, localPort: 5353, clock: { time }
        )
        return (EmbeddedChannel(handler: handler), handler, ring)
    }

    static func envelope(_ bytes: [UInt8], from host: String, port: Int,
                         to destination: String? = nil) throws -> AddressedEnvelope<ByteBuffer> {
        let metadata = try destination.map {
            AddressedEnvelope<ByteBuffer>.Metadata(
                ecnState: .transportNotCapable,
                packetInfo: NIOPacketInfo(destinationAddress: try SocketAddress(ipAddress: $0, port: 0), interfaceIndex: 2)
            )
        }
        return AddressedEnvelope(remoteAddress: try SocketAddress(ipAddress: host, port: port),
                                 data: buffer(bytes), metadata: metadata)
    }

    @Test("replies go back to each sender in one flush, and each datagram gives one check-in")
    func repliesAndCheckIns() throws {
        let (channel, handler, ring) = try Self.makeChannel()
        let senders = [("203.0.113.5", 40_001), ("2001:db8:1::7", 40_002), ("::ffff:198.51.100.99", 40_003)]
        for (i, (host, port)) in senders.enumerated() {
            // Not writeInbound, which ends every read with channelReadComplete: this is one
            // burst of reads, as a socket delivers it.
            let envelope = try Self.envelope(WireQuery.make("evil.example", id: UInt16(i)), from: host, port: port)
            channel.pipeline.syncOperations.fireChannelRead(NIOAny(envelope))
        }
        // Written but not flushed until the read burst ends.
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil)
        channel.pipeline.fireChannelReadComplete()
        for (i, (host, port)) in senders.enumerated() {
            let reply = try #require(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self))
            #expect(reply.remoteAddress == (try SocketAddress(ipAddress: host, port: port)))
            let decoded = try DecodedResponse(reply.data)
            #expect(decoded.header.id == UInt16(i))
            #expect(decoded.addresses == [Fixtures.v4a, Fixtures.v4b])
        }
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil)

        var events: [CheckIn] = []
        ring.drain { events.append($0) }
        #expect(events.count == 3)
        let expectedSources = [IPAddress("203.0.113.5")!, IPAddress("2001:db8:1::7")!, IPAddress("198.51.100.99")!]
        #expect(events.map(\.source) == expectedSources)
        #expect(events.map(\.sourcePort) == [40_001, 40_002, 40_003])
        for event in events {
            #expect(event.time == Self.time)
            #expect(event.destination == Self.local && event.destinationPort == 5353)
            #expect(event.transport == .udp && event.service == .dns)
            #expect(event.name.text == "evil.example" && event.family.text == "rustock")
            #expect(event.dnsType == 1 && event.dnsRcode == 0)
        }
        #expect(handler.counts.datagrams == 3 && handler.counts.replies == 3 && handler.counts.ringDrops == 0)
        #expect(try channel.finish().isClean)
    }

    @Test("the destination comes from packet info when the socket reports it")
    func packetInfoDestination() throws {
        let (channel, _, ring) = try Self.makeChannel()
        try channel.writeInbound(try Self.envelope(WireQuery.make("nothing.example"), from: "203.0.113.5", port: 1, to: "192.0.2.99"))
        channel.pipeline.fireChannelReadComplete()
        let reply = try #require(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self))
        #expect(try DecodedResponse(reply.data).header.rcode == DNSRcode.refused.rawValue)
        let event = try #require(ring.pop())
        #expect(event.destination == IPAddress("192.0.2.99")!)
        #expect(event.destinationPort == 5353)
        #expect(event.family.isEmpty && event.dnsRcode == DNSRcode.refused.rawValue)
        #expect(try channel.finish().isClean)
    }

    @Test("a datagram that gets no reply is still logged once, and nothing is flushed")
    func silentDatagram() throws {
        let (channel, handler, ring) = try Self.makeChannel()
        try channel.writeInbound(try Self.envelope(WireQuery.make("evil.example", flags: 0x8400), from: "203.0.113.8", port: 53))
        try channel.writeInbound(try Self.envelope([1, 2, 3], from: "203.0.113.9", port: 5300))
        channel.pipeline.fireChannelReadComplete()
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) == nil)
        var events: [CheckIn] = []
        ring.drain { events.append($0) }
        #expect(events.map(\.dnsRcode) == [CheckIn.noResponse, CheckIn.noResponse])
        #expect(events.map(\.sourcePort) == [53, 5300])
        #expect(handler.counts.replies == 0 && handler.counts.datagrams == 2)
        #expect(try channel.finish().isClean)
    }

    @Test("a full ring drops the check-in, counts it, and the bot still gets its answer")
    func fullRing() throws {
        let (channel, handler, ring) = try Self.makeChannel(ringCapacity: 1)
        for port in [1000, 1001] {
            try channel.writeInbound(try Self.envelope(WireQuery.make("evil.example"), from: "203.0.113.5", port: port))
        }
        channel.pipeline.fireChannelReadComplete()
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) != nil)
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) != nil)
        #expect(handler.counts.ringDrops == 1)
        #expect(ring.counts == EventRing<CheckIn>.Counts(accepted: 1, dropped: 1, consumed: 0))
        #expect(ring.pop()?.sourcePort == 1000)
        #expect(try channel.finish().isClean)
    }

    @Test("errors reported on the channel are counted and serving goes on")
    func errorsKeepChannelOpen() throws {
        let (channel, handler, _) = try Self.makeChannel()
        channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        #expect(handler.counts.channelErrors == 1)
        try channel.writeInbound(try Self.envelope(WireQuery.make("evil.example"), from: "203.0.113.5", port: 9))
        #expect(try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) != nil)
        #expect(try channel.finish().isClean)
    }

    @Test("socket addresses convert to sinkhole addresses without text, unmapping IPv4",
          arguments: [("198.51.100.1", 53, "198.51.100.1"), ("2001:db8::1", 65535, "2001:db8::1"),
                      ("::ffff:203.0.113.1", 1, "203.0.113.1"), ("::1", 0, "::1")])
    func socketAddressConversion(_ host: String, _ port: Int, _ expected: String) throws {
        let endpoint = try #require(try SocketAddress(ipAddress: host, port: port).sinkholeEndpoint)
        #expect(endpoint.address == IPAddress(expected)!)
        #expect(endpoint.port == UInt16(port))
    }
}
