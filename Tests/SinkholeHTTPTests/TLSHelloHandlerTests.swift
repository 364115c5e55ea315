import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing
import X509

/// The TLS layer on `EmbeddedChannel`s: a real NIOSSL client talks to the sinkhole's pipeline
/// (`TLSHelloHandler`, then NIOSSL, then `HTTPServerHandler`), bytes moved by hand.
@Suite("TLS hello handler: SNI and ciphers logged, handshake or not; the request inside as tls")
struct TLSHelloHandlerTests {
    static let time = UTCTime(seconds: 1_750_000_000, microseconds: 42)
    static let client = try! SocketAddress(ipAddress: "203.0.113.7", port: 40_443)
    static let server = try! SocketAddress(ipAddress: "198.51.100.7", port: 443)
    static let certificates = try! TLSCertificates(selfSigned: SelfSignedCertificate(addresses: [IPAddress("198.51.100.7")!]))

    struct Connection {
        let channel: EmbeddedChannel
        let handler: HTTPServerHandler
        let ring: EventRing<CheckIn>

        func events() -> [CheckIn] {
            var events: [CheckIn] = []
            ring.drain { events.append($0) }
            return events
        }

        func send(_ bytes: [UInt8]) throws { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
    }

    static func connect(certificates: TLSCertificates = TLSHelloHandlerTests.certificates) throws -> Connection {
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: 64, filler: CheckIn(
            time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0,
            transport: .udp, service: .dns))
        let zones = try SeizedZones(families: [SeizedFamily(name: "rustock", domains: ["evil.example"], answers: [])])
        let targets = SeizedTargets(zones: zones, addresses: [IPAddress("198.51.100.7")!: "conficker"])
        let handler = HTTPServerHandler(responses: HTTPResponses(.init()), targets: targets, ring: ring, clock: { time })
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSHelloHandler(certificates: certificates, zones: zones, clock: { time }))
        try channel.pipeline.syncOperations.addHandler(handler)
        channel.localAddress = server
        try channel.connect(to: client).wait()
        return Connection(channel: channel, handler: handler, ring: ring)
    }

    /// A NIOSSL client, connected (its hello is waiting in its outbound buffer).
    static func tlsClient(serverName: String?, configure: (inout TLSConfiguration) -> Void = { _ in }) throws -> EmbeddedChannel {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configure(&configuration)
        let context = try NIOSSLContext(configuration: configuration)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
        try channel.connect(to: server).wait()
        return channel
    }

    /// Moves bytes both ways until neither side has anything to send.
    static func exchange(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                if server.isActive { try server.writeInbound(bytes) }
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                if client.isActive { _ = try? client.writeInbound(bytes) }
                moved = true
            }
        }
    }

    /// The client closes (sending close_notify); the sinkhole answers it and closes too. No
    /// `wait()` on a close: NIOSSL completes it only once the peer has answered or its shutdown
    /// timer fired, and an embedded loop's timers run only when the test moves its clock.
    static func close(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
        client.close(promise: nil)
        try exchange(client, server)
        server.close(promise: nil)
        try exchange(client, server)
        server.embeddedEventLoop.advanceTime(by: .seconds(6))
        client.embeddedEventLoop.advanceTime(by: .seconds(6))
        try exchange(client, server)
        #expect(!server.isActive)
    }

    static func plaintext(_ channel: EmbeddedChannel) throws -> String {
        var all = ByteBuffer()
        while var chunk = try channel.readInbound(as: ByteBuffer.self) { all.writeBuffer(&chunk) }
        return all.readString(length: all.readableBytes) ?? ""
    }

    @Test("a handshake and two requests: two tls check-ins with SNI, family, version, cipher and HTTP detail")
    func requestsInside() throws {
        let c = try Self.connect()
        let client = try Self.tlsClient(serverName: "cc.Evil.example")
        try Self.exchange(client, c.channel)
        try client.writeOutbound(ByteBuffer(string: "GET /gate.php HTTP/1.1\r\nHost: cc.evil.example\r\n\r\nGET /b HTTP/1.1\r\n\r\n"))
        try Self.exchange(client, c.channel)
        let reply = try Self.plaintext(client)
        #expect(reply.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "\(reply)")
        try Self.close(client, c.channel)
        let events = c.events()
        try #require(events.count == 2, "\(events.map(\.service))")
        for e in events {
            #expect(e.service == .tls && e.transport == .tcp && e.time == Self.time)
            #expect(e.tlsServerName.text == "cc.Evil.example" && e.family.text == "rustock")
            #expect(e.tlsCompleted && e.tlsVersion == 0x0304 && [0x1301, 0x1302, 0x1303].contains(e.tlsCipher))
            #expect(e.tlsOfferedVersion == 0x0304 && e.tlsOfferedCipherCount > 3 && e.tlsOfferedCipher != 0)
            #expect(e.source == IPAddress("203.0.113.7") && e.sourcePort == 40_443 && e.destinationPort == 443)
            #expect(e.httpStatus == 200 && e.httpVersion == 11)
        }
        #expect(events[0].httpPath.text == "/gate.php" && events[0].name.text == "cc.evil.example")
        #expect(events[1].httpPath.text == "/b" && events[1].name.text == "cc.Evil.example", "no Host: the SNI names it")
        #expect(c.handler.counts.tlsHellosOnly == 0)
    }

    @Test("the certificate names the seized apex and its wildcard; no SNI gets the default one")
    func certificateForApex() throws {
        for (serverName, expected) in [("deep.cc.evil.example", ["evil.example", "*.evil.example"]), (nil, [String]())] {
            let c = try Self.connect()
            let client = try Self.tlsClient(serverName: serverName)
            try Self.exchange(client, c.channel)
            let peer = try #require(try client.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate)
            let certificate = try Certificate(derEncoded: try peer.toDERBytes())
            let names = try certificate.extensions.subjectAlternativeNames?.compactMap { name -> String? in
                if case .dnsName(let text) = name { return text }
                return nil
            } ?? []
            #expect(names == expected, "\(serverName ?? "no SNI")")
            #expect(certificate.notValidBefore < .now && certificate.notValidAfter > .now.addingTimeInterval(300 * 86_400))
            if serverName == nil {
                #expect(certificate.subject.description == "CN=sinkhole")
                #expect(try certificate.extensions.subjectAlternativeNames?.count == 1, "the sinkhole address")
            }
            try Self.close(client, c.channel)
        }
    }

    @Test("a completed handshake with no request is one tls check-in, named by its SNI, with no HTTP detail")
    func handshakeOnly() throws {
        let c = try Self.connect()
        let client = try Self.tlsClient(serverName: "evil.example")
        try Self.exchange(client, c.channel)
        try Self.close(client, c.channel)
        let events = c.events()
        try #require(events.count == 1)
        let e = events[0]
        #expect(e.service == .tls && e.name.text == "evil.example" && e.tlsServerName.text == "evil.example")
        #expect(e.family.text == "rustock" && e.tlsCompleted && e.tlsVersion == 0x0304 && e.httpMethod.isEmpty)
        #expect(c.handler.counts.tlsHellosOnly == 1)
    }

    @Test("a bare client hello, then the client leaves: one tls check-in with the hello, not completed")
    func bareHello() throws {
        let c = try Self.connect()
        try c.send(TLSHelloFixtures.openSSLClientHello)
        var serverFlight = 0
        while let bytes = try c.channel.readOutbound(as: ByteBuffer.self) { serverFlight += bytes.readableBytes }
        #expect(serverFlight > 0, "the sinkhole answered the hello")
        #expect(c.events().isEmpty, "nothing logged before the connection ends")
        c.channel.pipeline.fireChannelInactive()
        let events = c.events()
        try #require(events.count == 1)
        let e = events[0]
        #expect(e.service == .tls && e.time == Self.time && e.tlsServerName.text == "cc.botnet.example")
        #expect(e.family.text == "conficker", "not a seized name: the seized address reached labels it")
        #expect(e.tlsOfferedVersion == 0x0304 && e.tlsOfferedCipher == 0x1302 && e.tlsOfferedCipherCount == 30)
        #expect(!e.tlsCompleted && e.tlsVersion == 0x0304 && e.tlsCipher != 0 && e.firstBytes.isEmpty)
    }

    @Test("a handshake that fails (no shared cipher) still logs the hello, with no version or cipher chosen")
    func failedHandshake() throws {
        let c = try Self.connect()
        let client = try Self.tlsClient(serverName: "old.evil.example") {
            $0.maximumTLSVersion = .tlsv12
            $0.cipherSuites = "AES128-SHA"  // RSA key exchange: the ECDSA certificate cannot serve it
        }
        try Self.exchange(client, c.channel)
        #expect(!c.channel.isActive)
        let events = c.events()
        try #require(events.count == 1)
        let e = events[0]
        #expect(e.service == .tls && e.tlsServerName.text == "old.evil.example" && e.family.text == "rustock")
        #expect(e.tlsOfferedVersion == 0x0303 && e.tlsOfferedCipher == 0x002f && e.tlsOfferedCipherCount == 1)
        #expect(!e.tlsCompleted && e.tlsVersion == 0 && e.tlsCipher == 0)
    }

    @Test("TLS records without a readable hello: a tls check-in with the first bytes")
    func unreadableHello() throws {
        let c = try Self.connect()
        let bytes: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x06, 0x01, 0x00, 0x00, 0x02, 0x03, 0x03]
        try? c.send(bytes)
        c.channel.pipeline.fireChannelInactive()
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].service == .tls && events[0].firstBytes.bytes == bytes && events[0].tlsServerName.isEmpty)
        #expect(events[0].tlsOfferedVersion == 0 && events[0].family.text == "conficker")
    }

    @Test("a client that leaves mid-hello is logged as tls with what it sent")
    func partialHello() throws {
        let c = try Self.connect()
        let partial = Array(TLSHelloFixtures.openSSLClientHello.prefix(100))
        try c.send(partial)
        #expect(c.events().isEmpty)
        c.channel.pipeline.fireChannelInactive()
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].service == .tls && events[0].firstBytes.bytes == Array(partial.prefix(64)) && events[0].firstBytes.truncated)
        #expect(events[0].tlsServerName.isEmpty && events[0].family.text == "conficker")
    }

    @Test("reloaded seized names reach the TLS layer: a new name's hello gets its family and certificate")
    func reload() throws {
        let c = try Self.connect()
        let zones = try SeizedZones(families: [SeizedFamily(name: "necurs", domains: ["botnet.example"], answers: [])])
        c.channel.pipeline.fireUserInboundEventTriggered(DNSResponderUpdate(responder: DNSResponder(zones: zones, ttl: 300)))
        try c.send(TLSHelloFixtures.openSSLClientHello)
        c.channel.pipeline.fireChannelInactive()
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].family.text == "necurs" && events[0].tlsServerName.text == "cc.botnet.example")
    }

    @Test("bytes that are not TLS go to the HTTP handler as they are: garbage as tcp, plaintext HTTP as http")
    func notTLS() throws {
        let garbage: [UInt8] = [0x00, 0xff, 0x1b, 0x0d, 0x0a]
        let c = try Self.connect()
        try c.send(garbage)
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].service == .tcp && events[0].firstBytes.bytes == garbage && events[0].tlsOfferedVersion == 0)

        let h = try Self.connect()
        try h.send(Array("GET /plain HTTP/1.1\r\nHost: evil.example\r\n\r\n".utf8))
        let answer = try #require(try h.channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: answer).hasPrefix("HTTP/1.1 200 OK\r\n"))
        let plain = h.events()
        try #require(plain.count == 1)
        #expect(plain[0].service == .http && plain[0].httpPath.text == "/plain" && plain[0].family.text == "rustock")
    }

    @Test("a hello dripped one byte at a time is read whole")
    func drippedHello() throws {
        let c = try Self.connect()
        for byte in TLSHelloFixtures.openSSLClientHello { try c.send([byte]) }
        c.channel.pipeline.fireChannelInactive()
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].tlsServerName.text == "cc.botnet.example" && events[0].tlsOfferedCipherCount == 30)
    }

    @Test("certificates per apex are cached, at most the cache's capacity, least recently used first out")
    func certificateCache() throws {
        let names = (0..<(TLSCertificates.cacheCapacity + 20)).map { "c\($0).example" }
        let zones = try SeizedZones(families: [SeizedFamily(name: "many", domains: names, answers: [])])
        let certificates = try TLSCertificates(selfSigned: SelfSignedCertificate(addresses: []))
        let first = certificates.context(for: zones.match("www.c0.example"))
        #expect(certificates.context(for: zones.match("c0.example")) === first, "one context per apex")
        for name in names { _ = certificates.context(for: zones.match(name)) }
        #expect(certificates.cachedApexes == TLSCertificates.cacheCapacity)
        #expect(certificates.context(for: zones.match(names.last!)) === certificates.context(for: zones.match(names.last!)))
        #expect(certificates.context(for: nil) === certificates.context(for: zones.match("not.seized")))
    }
}
