import NIOCore
import NIOEmbedded
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

@Suite("HTTP connection handler: answers, check-ins and limits")
struct HTTPServerHandlerTests {
    static let time = UTCTime(seconds: 1_750_000_000, microseconds: 42)
    static let client = try! SocketAddress(ipAddress: "203.0.113.7", port: 40_080)
    static let server = try! SocketAddress(ipAddress: "198.51.100.7", port: 80)

    struct Connection {
        let channel: EmbeddedChannel
        let handler: HTTPServerHandler
        let ring: EventRing<CheckIn>
        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        func send(_ text: String) throws { try send(Array(text.utf8)) }
        func send(_ bytes: [UInt8]) throws { try channel.writeInbound(ByteBuffer(bytes: bytes)) }

        /// Everything written so far, as text.
        func output() throws -> String {
            var all = ByteBuffer()
            while var chunk = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&chunk) }
            return all.readString(length: all.readableBytes) ?? ""
        }

        func events() -> [CheckIn] {
            var events: [CheckIn] = []
            ring.drain { events.append($0) }
            return events
        }
    }

    static func connect(
        responses: HTTPResponses = HTTPResponses(.init()),
        configuration: HTTPServerHandler.Configuration = .init(), connections: DNSTCPConnections? = nil,
        from client: SocketAddress = HTTPServerHandlerTests.client
    ) throws -> Connection {
        let ring = EventRing<CheckIn>(name: "test", minimumCapacity: 64, filler: CheckIn(
            time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero, destinationPort: 0,
            transport: .udp, service: .dns))
        let zones = try SeizedZones(families: [SeizedFamily(name: "rustock", domains: ["evil.example"], answers: [])])
        let targets = SeizedTargets(zones: zones, addresses: [IPAddress("198.51.100.7")!: "conficker"])
        let handler = HTTPServerHandler(responses: responses, targets: targets, ring: ring,
                                        configuration: configuration, connections: connections, clock: { time })
        let channel = EmbeddedChannel(handler: handler)
        channel.localAddress = server
        try channel.connect(to: client).wait()
        return Connection(channel: channel, handler: handler, ring: ring)
    }

    /// Status lines of every response in `output`, in order.
    static func statuses(_ output: String) -> [String] {
        output.split(separator: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }.map(String.init)
    }

    @Test("a bot gets 200 with an empty body, and one check-in with every field")
    func botRequest() throws {
        let c = try Self.connect()
        try c.send("POST /gate.php?x=1 HTTP/1.1\r\nHost: cc.Evil.Example\r\nUser-Agent: bot/1.0\r\n"
                   + "Referer: r\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Length: 4\r\n\r\n\u{0}\u{1}\u{2}\u{3}")
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\nDate: Sun, 15 Jun 2025 15:06:40 GMT\r\nContent-Length: 0\r\n\r\n"), "\(out)")
        #expect(!out.contains("Connection:"))
        let events = c.events()
        try #require(events.count == 1)
        let e = events[0]
        #expect(e.service == .http && e.transport == .tcp && e.time == Self.time)
        #expect(e.source == IPAddress("203.0.113.7") && e.sourcePort == 40_080)
        #expect(e.destination == IPAddress("198.51.100.7") && e.destinationPort == 80)
        #expect(e.family.text == "rustock", "the Host's seized name wins over the address")
        #expect(e.name.text == "cc.Evil.Example" && e.httpMethod.text == "POST" && e.httpPath.text == "/gate.php?x=1")
        #expect(e.httpUserAgent.text == "bot/1.0" && e.httpReferer.text == "r" && e.httpForwardedFor.text == "192.0.2.1")
        #expect(e.httpVersion == 11 && e.httpStatus == 200 && e.httpHeaderCount == 5)
        #expect(e.httpContentLength == 4 && e.httpBodyBytes == 4 && e.httpBodyDigest.bytes == SHA256Hasher.hash([0, 1, 2, 3]))
        #expect(c.channel.isActive)
    }

    @Test("family from the seized address reached when the Host names nothing seized, or is absent")
    func familyFromAddress() throws {
        let c = try Self.connect()
        try c.send("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n")
        #expect(c.events().map { $0.family.text } == ["conficker", "conficker", "conficker"])
    }

    @Test("a browser gets the neutral HTML page; HEAD gets its head only; configured status and headers are used")
    func browserPage() throws {
        let responses = HTTPResponses(.init(status: 404, headers: [.init(name: "Server", value: "nginx")],
                                            body: Array("gone".utf8), browserText: "Sinkholed <by> us & co"))
        let c = try Self.connect(responses: responses)
        try c.send("GET / HTTP/1.1\r\nAccept: text/html,*/*\r\n\r\n")
        let page = try c.output()
        #expect(page.hasPrefix("HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"), "\(page)")
        #expect(page.contains("<p>Sinkholed &lt;by&gt; us &amp; co</p>"))
        try c.send("GET / HTTP/1.1\r\n\r\n")
        let bot = try c.output()
        #expect(bot.hasPrefix("HTTP/1.1 404 Not Found\r\nServer: nginx\r\nDate: ") && bot.hasSuffix("Content-Length: 4\r\n\r\ngone"), "\(bot)")
        try c.send("HEAD / HTTP/1.1\r\n\r\n")
        #expect(try c.output().hasSuffix("Content-Length: 4\r\n\r\n"))
        #expect(c.events().map(\.httpStatus) == [404, 404, 404])
    }

    @Test("pipelined requests in one read are all answered, in order, each a check-in")
    func pipelining() throws {
        let c = try Self.connect()
        try c.send("GET /1 HTTP/1.1\r\n\r\nOPTIONS /2 HTTP/1.1\r\n\r\nDELETE /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n")
        #expect(Self.statuses(try c.output()).count == 3)
        try c.send("\r\n")
        #expect(Self.statuses(try c.output()).count == 1)
        let events = c.events()
        #expect(events.map { $0.httpPath.text } == ["/1", "/2", "/3", "/4"])
        // Numbered on the connection, so the store keeps each request as its own row.
        #expect(events.map(\.requestIndex) == [0, 1, 2, 3])
        #expect(c.channel.isActive)
    }

    @Test("a refused or unfinished request is numbered after the requests completed before it")
    func refusalIndex() throws {
        let c = try Self.connect()
        try c.send("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(c.events().map { "\($0.requestIndex) \($0.httpStatus)" } == ["0 200", "1 400"])
        let left = try Self.connect()
        try left.send("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 9\r\n\r\nab")
        _ = try left.channel.close().wait()
        #expect(left.events().map { "\($0.requestIndex) \($0.httpStatus)" } == ["0 200", "1 0"])
    }

    @Test("HTTP/1.0 closes after the answer unless it asked for keep-alive")
    func http10() throws {
        let keep = try Self.connect()
        try keep.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try keep.output().contains("Connection: keep-alive\r\n"))
        #expect(keep.channel.isActive)
        let close = try Self.connect()
        try close.send("GET / HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n")
        let out = try close.output()
        #expect(out.contains("Connection: close\r\n") && Self.statuses(out).count == 1, "\(out)")
        #expect(!close.channel.isActive)
        #expect(close.events().count == 1)
    }

    static let limitRequests: [String: String] = [
        "414": "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n",
        "431": "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 100 * 1024) + "\r\n\r\n",
        "400 CL+TE": "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "400 chunk size": "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfoo\r\n",
        "413": "POST / HTTP/1.1\r\nContent-Length: 3000000\r\n\r\n" + String(repeating: "x", count: 2_100_000),
    ]

    @Test("each limit is answered with its status, logged, and the connection closed", arguments: [
        ("414", "414 URI Too Long", UInt16(414)),
        ("431", "431 Request Header Fields Too Large", 431),
        ("400 CL+TE", "400 Bad Request", 400),
        ("400 chunk size", "400 Bad Request", 400),
        ("413", "413 Payload Too Large", 413),
    ])
    func limits(name: String, status: String, code: UInt16) throws {
        let c = try Self.connect()
        try c.send(try #require(Self.limitRequests[name]))
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 \(status)\r\n") && out.contains("Connection: close\r\nContent-Length: 0\r\n\r\n"), "\(out.prefix(200))")
        #expect(!c.channel.isActive)
        let events = c.events()
        #expect(events.count == 1 && events.first?.service == .http && events.first?.httpStatus == code)
        #expect(c.handler.counts.rejected == 1)
    }

    @Test("non-HTTP bytes are one tcp check-in with the first bytes, no answer, connection closed", arguments: [
        [0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03] + [UInt8](repeating: 0x5a, count: 100),
        Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8),
        Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8),
    ] as [[UInt8]])
    func notHTTP(bytes: [UInt8]) throws {
        let c = try Self.connect()
        try c.send(bytes)
        #expect(try c.output().isEmpty)
        #expect(!c.channel.isActive)
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].service == .tcp && events[0].transport == .tcp && events[0].sourcePort == 40_080)
        #expect(events[0].firstBytes.bytes == Array(bytes.prefix(64)))
        #expect(events[0].firstBytes.truncated == (bytes.count > 64))
        #expect(events[0].family.text == "conficker")
    }

    @Test("a head not complete within the header deadline gets a 408 and is logged")
    func headerDeadline() throws {
        let c = try Self.connect()
        try c.send("GET /slow HTTP/1.1\r\nHost: a")
        c.loop.advanceTime(by: .seconds(9))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .seconds(1))
        #expect(try c.output().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(!c.channel.isActive)
        #expect(c.events().map(\.httpStatus) == [408])
    }

    @Test("a body trickling in past the body deadline gets a 408, logged with the bytes read, and the connection closes")
    func bodyDeadline() throws {
        let c = try Self.connect(configuration: .init(bodyTimeout: .seconds(30), idleTimeout: .seconds(5)))
        try c.send("POST /drip HTTP/1.1\r\nHost: cc.evil.example\r\nContent-Length: 1000\r\n\r\n")
        // A byte every 4 s: never idle for 5 s, so only the body deadline can end it.
        for _ in 0..<7 {
            c.loop.advanceTime(by: .seconds(4))
            try c.send("x")
        }
        #expect(c.channel.isActive)
        #expect(try c.output().isEmpty)
        c.loop.advanceTime(by: .seconds(2))
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 408 Request Timeout\r\n") && out.contains("Connection: close\r\n"), "\(out)")
        #expect(!c.channel.isActive)
        let events = c.events()
        try #require(events.count == 1)
        #expect(events[0].service == .http && events[0].httpStatus == 408 && events[0].httpPath.text == "/drip")
        #expect(events[0].httpContentLength == 1000 && events[0].httpBodyBytes == 7 && events[0].family.text == "rustock")
        #expect(c.handler.counts.bodyTimeouts == 1 && c.handler.counts.idleTimeouts == 0)
    }

    @Test("the body deadline runs per request, from the end of its head, and a chunked body is bound by it too")
    func bodyDeadlinePerRequest() throws {
        let c = try Self.connect(configuration: .init(bodyTimeout: .seconds(10)))
        // A body that completes in time leaves no timer behind for the next request.
        try c.send("POST /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\na")
        c.loop.advanceTime(by: .seconds(9))
        try c.send("b")
        #expect(Self.statuses(try c.output()) == ["HTTP/1.1 200 OK"])
        c.loop.advanceTime(by: .seconds(5))
        try c.send("POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        c.loop.advanceTime(by: .seconds(9))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .seconds(1))
        #expect(Self.statuses(try c.output()) == ["HTTP/1.1 408 Request Timeout"])
        #expect(c.events().map { "\($0.httpPath.text) \($0.httpStatus) \($0.httpBodyBytes)" } == ["/1 200 2", "/2 408 3"])
    }

    @Test("a partial request line at the deadline is logged as tcp with its bytes; silence is not logged")
    func slowGarbage() throws {
        let c = try Self.connect()
        try c.send("GE")
        c.loop.advanceTime(by: .seconds(10))
        #expect(!c.channel.isActive)
        let events = c.events()
        #expect(events.map(\.service) == [.tcp] && events.first?.firstBytes.text == "GE")
        let silent = try Self.connect()
        silent.loop.advanceTime(by: .seconds(29))
        #expect(silent.channel.isActive)
        silent.loop.advanceTime(by: .seconds(1))
        #expect(!silent.channel.isActive)
        #expect(silent.events().isEmpty && silent.handler.counts.idleTimeouts == 1)
    }

    @Test("the idle timeout runs from the last byte, not from the start")
    func idleFromLastByte() throws {
        let c = try Self.connect()
        c.loop.advanceTime(by: .seconds(20))
        try c.send("GET / HTTP/1.1\r\n\r\n")
        c.loop.advanceTime(by: .seconds(20))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .seconds(10))
        #expect(!c.channel.isActive)
    }

    @Test("Expect: 100-continue gets a Continue, then the answer")
    func continueExpected() throws {
        let c = try Self.connect()
        try c.send("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        #expect(try c.output() == "HTTP/1.1 100 Continue\r\n\r\n")
        try c.send("ok")
        #expect(try c.output().hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(c.events().first?.httpBodyBytes == 2)
    }

    @Test("the peer leaving mid-request still leaves a check-in")
    func peerLeaves() throws {
        let c = try Self.connect()
        try c.send("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        _ = try c.channel.close().wait()
        let events = c.events()
        #expect(events.count == 1 && events.first?.httpStatus == 0 && events.first?.httpBodyBytes == 3)
    }

    @Test("a reload's seized names reach an open connection")
    func reload() throws {
        let c = try Self.connect()
        let zones = try SeizedZones(families: [SeizedFamily(name: "newfam", domains: ["new.example"], answers: [])])
        c.channel.pipeline.fireUserInboundEventTriggered(DNSResponderUpdate(responder: DNSResponder(zones: zones, ttl: 60)))
        try c.send("GET / HTTP/1.1\r\nHost: a.new.example\r\n\r\n")
        #expect(c.events().map { $0.family.text } == ["newfam"])
    }

    @Test("at the connection limit the longest idle connection is closed for a newcomer")
    func connectionLimit() throws {
        let table = DNSTCPConnections(limit: 2)
        let a = try Self.connect(connections: table)
        let b = try Self.connect(connections: table)
        try b.send("GET /half")  // busy: mid-head
        let c = try Self.connect(connections: table)
        #expect(!a.channel.isActive && b.channel.isActive && c.channel.isActive)
        #expect(table.counts.evicted == 1)
    }
}
