import Foundation
import Testing

/// The built `sinkhole` binary against real DNS clients: BIND's `dig` and Knot's `kdig` over
/// UDP and TCP, with and without EDNS and at several buffer sizes; every truncation of a valid
/// query and seeded garbage from raw sockets; and a paced query flood across SIGHUP reloads.
/// Each test then stops the server with SIGTERM and checks the SQLite file counted every query.
///
/// Test traffic goes to loopback only, and every loop is bounded in count and time. Check-ins
/// are told apart by qname, or, for truncated queries (which all have the empty qname), by
/// their loopback source address: any of 127.0.0.0/8 reaches the sinkhole on Linux.
@Suite("real DNS clients against the sinkhole binary", .serialized)
struct DNSClientTests {
    struct Setup {
        let directory: URL
        let port: UInt16
        let config: String
        var database: String { directory.appendingPathComponent("data/checkins.db").path }
        func list(_ name: String) -> URL { directory.appendingPathComponent(name) }
    }

    /// 40 addresses: an A answer of 16 bytes each (640) needs more than 512 bytes, less than 1232.
    static let bigAnswers = (1...40).map { "198.51.100.\($0)" }
    /// 80 addresses: 1280 bytes of answers, more than any UDP reply of the sinkhole (1232).
    static let hugeAnswers = (101...180).map { "198.51.100.\($0)" }
    /// The two answers of the name the reload test moves between families.
    static let alphaAnswer = "198.51.100.77"
    static let betaAnswer = "203.0.113.77"
    /// 2000 other names in each of the reload test's lists, so a reload has something to read.
    static func filler(_ family: String) -> String {
        (0..<2000).map { "c2-\($0).\(family).test\n" }.joined()
    }

    static func makeSetup() throws -> Setup {
        let directory = try makeTemporaryDirectory()
        let port = try freeLoopbackPort()
        func write(_ text: String, _ file: String) throws {
            try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        try write("cc.small.test\n", "small.txt")
        try write("big.test\n", "big.txt")
        try write("huge.test\n", "huge.txt")
        try write(filler("alpha") + "flip.test\n", "alpha.txt")
        try write(filler("beta") + "flip.test\n", "beta.txt")
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        func list(_ addresses: [String]) -> String { "[" + addresses.joined(separator: ", ") + "]" }
        try """
        node: client-test
        sinkhole_addresses: [198.51.100.10, "2001:db8::10"]
        families:
          - name: small
            domains: [small.txt]
          - name: big
            domains: [big.txt]
            sinkhole_addresses: \(list(bigAnswers))
          - name: huge
            domains: [huge.txt]
            sinkhole_addresses: \(list(hugeAnswers))
          # flip.test is in both lists; the first family wins, so taking it out of alpha.txt
          # moves it to beta: the reload test toggles that.
          - name: alpha
            domains: [alpha.txt]
            sinkhole_addresses: [\(alphaAnswer)]
          - name: beta
            domains: [beta.txt]
            sinkhole_addresses: [\(betaAnswer)]
        dns:
          listen: ["127.0.0.1:\(port)", "[::1]:\(port)"]
          ttl: 600
          # Off: these tests count answers to floods from one address, which response rate
          # limiting would (rightly) cut short.
          rate_limit: {responses_per_second: 0}
        http: {listen: [], tls_listen: []}   # DNS only: HTTPBinaryTests cover HTTP
        writer: {batch_size: 1024, flush_interval_ms: 100}
        store:
          sqlite: data/checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, port: port, config: config)
    }

    /// Starts the binary with `setup`'s config and waits until it is ready.
    static func start(_ setup: Setup) throws -> SinkholeProcess {
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", setup.config], directory: setup.directory)
        try sinkhole.waitUntilReady()
        return sinkhole
    }

    /// After a clean stop: the run's counters, and the counters table agreeing with them.
    static func runCounters(_ setup: Setup) throws -> (offered: Int, stored: Int, dropped: Int) {
        let run = try sqliteRows(setup.database, "SELECT offered, stored, dropped FROM runs").first?.compactMap { Int($0) } ?? []
        guard run.count == 3 else { Issue.record("no run row"); return (-1, -1, -1) }
        let counters = try sqliteRows(setup.database, "SELECT name, value FROM counters WHERE node = 'client-test'")
        let byName = Dictionary(uniqueKeysWithValues: counters.map { ($0[0], Int($0[1]) ?? -1) })
        #expect(byName["offered"] == run[0] && byName["stored"] == run[1] && (byName["dropped"] ?? 0) == run[2],
                "counters \(counters) disagree with the run \(run)")
        return (run[0], run[1], run[2])
    }
}

// MARK: - dig and kdig

extension DNSClientTests {
    enum Tool: String { case dig, kdig }

    /// What a case expects the tool to print.
    enum Expected {
        case answer([String])  // NOERROR, AA, these addresses (A, or AAAA when the type is)
        case truncated  // NOERROR, AA, TC, no answer: the RRset goes whole or not at all
        case nodata  // NOERROR, AA, no answer, the SOA in authority
        case refused  // REFUSED, not AA
        case badVersion  // BADVERS, not AA
    }

    struct ClientCase: CustomStringConvertible {
        var tool: Tool
        var server = "127.0.0.1"
        var options: [String]
        var name: String
        var type = "A"
        var expected: Expected
        /// Whether the reply carries an OPT (it must exactly when the query did).
        var opt: Bool
        var transport: String
        var retried = false
        var description: String { "\(tool) @\(server) \(options.joined(separator: " ")) \(name) \(type)" }
        /// What the store must hold for the qname: queries (a TCP retry is a second one) and rcode.
        var stored: (count: Int, rcode: Int) {
            let rcode = switch expected {
            case .refused: 5
            case .badVersion: 16
            default: 0
            }
            return (retried ? 2 : 1, rcode)
        }
    }

    /// The size of the sinkhole's EDNS reply to an A query for `name` under big.test: header,
    /// question, 40 compressed A records of 16 bytes, and the OPT record.
    static func bigReplySize(_ name: String) -> Int { 12 + (name.utf8.count + 2) + 4 + 40 * 16 + 11 }

    static let clientCases: [ClientCase] = {
        // dig(…) always passes +noedns first; +edns=0 after it turns EDNS back on.
        let edns = ["+edns=0"]
        let small = ["198.51.100.10"]
        var cases: [ClientCase] = [
            .init(tool: .dig, options: [], name: "d1.cc.small.test", expected: .answer(small), opt: false, transport: "UDP"),
            .init(tool: .dig, options: edns, name: "d2.cc.small.test", type: "AAAA", expected: .answer(["2001:db8::10"]), opt: true, transport: "UDP"),
            .init(tool: .dig, options: ["+tcp"], name: "d3.cc.small.test", expected: .answer(small), opt: false, transport: "TCP"),
            .init(tool: .dig, options: ["+tcp"] + edns + ["+bufsize=4096"], name: "d4.cc.small.test", expected: .answer(small), opt: true, transport: "TCP"),
            .init(tool: .dig, server: "::1", options: edns + ["+bufsize=512"], name: "d5.cc.small.test", expected: .answer(small), opt: true, transport: "UDP"),
            // 40 addresses do not fit 512 bytes: TC over UDP, then dig asks again over TCP.
            .init(tool: .dig, options: ["+ignore"], name: "d6.big.test", expected: .truncated, opt: false, transport: "UDP"),
            .init(tool: .dig, options: [], name: "d7.big.test", expected: .answer(bigAnswers), opt: false, transport: "TCP", retried: true),
            .init(tool: .dig, options: edns + ["+bufsize=512", "+ignore"], name: "d8.big.test", expected: .truncated, opt: true, transport: "UDP"),
            .init(tool: .dig, options: edns + ["+bufsize=512"], name: "d9.big.test", expected: .answer(bigAnswers), opt: true, transport: "TCP", retried: true),
            .init(tool: .dig, options: edns + ["+bufsize=1232"], name: "d10.big.test", expected: .answer(bigAnswers), opt: true, transport: "UDP"),
            .init(tool: .dig, options: edns + ["+bufsize=4096"], name: "d11.big.test", expected: .answer(bigAnswers), opt: true, transport: "UDP"),
            .init(tool: .dig, server: "::1", options: ["+tcp"], name: "d12.big.test", expected: .answer(bigAnswers), opt: false, transport: "TCP"),
            // 80 addresses fit no UDP reply: the sinkhole sends at most 1232 bytes, whatever the client offers.
            .init(tool: .dig, options: edns + ["+bufsize=4096", "+ignore"], name: "d13.huge.test", expected: .truncated, opt: true, transport: "UDP"),
            .init(tool: .dig, options: edns + ["+bufsize=4096"], name: "d14.huge.test", expected: .answer(hugeAnswers), opt: true, transport: "TCP", retried: true),
            .init(tool: .dig, options: ["+tcp"], name: "d15.huge.test", expected: .answer(hugeAnswers), opt: false, transport: "TCP"),
            .init(tool: .dig, options: edns, name: "d16.big.test", type: "AAAA", expected: .nodata, opt: true, transport: "UDP"),
            .init(tool: .dig, options: [], name: "d17.unseized.example", expected: .refused, opt: false, transport: "UDP"),
            .init(tool: .dig, options: ["+tcp"] + edns, name: "d18.unseized.example", expected: .refused, opt: true, transport: "TCP"),
            // Without +noednsnegotiation dig would retry BADVERS with version 0.
            .init(tool: .dig, options: ["+edns=1", "+noednsnegotiation"], name: "d19.cc.small.test", expected: .badVersion, opt: true, transport: "UDP"),

            // kdig sends no EDNS unless asked (+edns, or +bufsize=B).
            .init(tool: .kdig, options: [], name: "k1.cc.small.test", expected: .answer(small), opt: false, transport: "UDP"),
            .init(tool: .kdig, options: ["+edns"], name: "k2.cc.small.test", type: "AAAA", expected: .answer(["2001:db8::10"]), opt: true, transport: "UDP"),
            .init(tool: .kdig, options: ["+tcp"], name: "k3.cc.small.test", expected: .answer(small), opt: false, transport: "TCP"),
            .init(tool: .kdig, server: "::1", options: ["+tcp", "+bufsize=1232"], name: "k4.cc.small.test", expected: .answer(small), opt: true, transport: "TCP"),
            .init(tool: .kdig, options: ["+ignore"], name: "k5.big.test", expected: .truncated, opt: false, transport: "UDP"),
            .init(tool: .kdig, options: [], name: "k6.big.test", expected: .answer(bigAnswers), opt: false, transport: "TCP", retried: true),
            .init(tool: .kdig, options: ["+bufsize=512", "+ignore"], name: "k7.big.test", expected: .truncated, opt: true, transport: "UDP"),
            .init(tool: .kdig, options: ["+bufsize=512"], name: "k8.big.test", expected: .answer(bigAnswers), opt: true, transport: "TCP", retried: true),
            .init(tool: .kdig, options: ["+bufsize=1232"], name: "k9.big.test", expected: .answer(bigAnswers), opt: true, transport: "UDP"),
            .init(tool: .kdig, server: "::1", options: ["+bufsize=4096"], name: "k10.big.test", expected: .answer(bigAnswers), opt: true, transport: "UDP"),
            .init(tool: .kdig, options: ["+bufsize=4096", "+ignore"], name: "k11.huge.test", expected: .truncated, opt: true, transport: "UDP"),
            .init(tool: .kdig, options: ["+bufsize=4096"], name: "k12.huge.test", expected: .answer(hugeAnswers), opt: true, transport: "TCP", retried: true),
            .init(tool: .kdig, options: ["+tcp", "+bufsize=4096"], name: "k13.huge.test", expected: .answer(hugeAnswers), opt: true, transport: "TCP"),
            .init(tool: .kdig, options: [], name: "k14.big.test", type: "AAAA", expected: .nodata, opt: false, transport: "UDP"),
            .init(tool: .kdig, options: ["+tcp"], name: "k15.unseized.example", expected: .refused, opt: false, transport: "TCP"),
            .init(tool: .kdig, options: ["+edns=1"], name: "k16.cc.small.test", expected: .badVersion, opt: true, transport: "UDP"),
        ]
        // The client's buffer size is honoured to the byte: a reply of exactly that size is
        // sent whole, one byte more is truncated.
        for (tool, prefix) in [(Tool.dig, edns), (Tool.kdig, [])] {
            let fits = "\(tool.rawValue.prefix(1))-fits.big.test"
            let over = "\(tool.rawValue.prefix(1))-over.big.test"
            cases.append(.init(tool: tool, options: prefix + ["+bufsize=\(bigReplySize(fits))"], name: fits,
                               expected: .answer(bigAnswers), opt: true, transport: "UDP"))
            cases.append(.init(tool: tool, options: prefix + ["+bufsize=\(bigReplySize(over) - 1)", "+ignore"], name: over,
                               expected: .truncated, opt: true, transport: "UDP"))
        }
        return cases
    }()

    @Test("dig and kdig over UDP and TCP, with and without EDNS, at 512/1232/4096-byte buffers: flags, rcode, answers, OPT, TC and the TCP retry are right, and every query is stored")
    func digAndKdig() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try Self.start(setup)
        defer { sinkhole.terminate() }

        for c in Self.clientCases {
            let result = switch c.tool {
            case .dig: try dig(server: c.server, port: setup.port, name: c.name, type: c.type, options: c.options)
            case .kdig: try kdig(server: c.server, port: setup.port, name: c.name, type: c.type, options: c.options)
            }
            let context = Comment(rawValue: "\(c)\n\(result.output)")
            let (status, authoritative, truncated): (String, Bool, Bool) = switch c.expected {
            case .answer, .nodata: ("NOERROR", true, false)
            case .truncated: ("NOERROR", true, true)
            case .refused: ("REFUSED", false, false)
            case .badVersion: ("BADVERS", false, false)
            }
            #expect(result.status == status, context)
            // RD echoed, recursion never offered (RFC 1035 §4.1.1), AA only for seized data.
            #expect(result.flags.isSuperset(of: ["qr", "rd"]) && !result.flags.contains("ra"), context)
            #expect(result.flags.contains("aa") == authoritative, context)
            #expect(result.flags.contains("tc") == truncated, context)
            switch c.expected {
            case .answer(let addresses):
                #expect(result.answers == addresses.map { "\(c.name). 600 IN \(c.type) \($0)" }, context)
            case .nodata:
                #expect(result.answers.isEmpty && result.authorityCount == 1 && result.output.contains("SOA"), context)
            case .truncated, .refused, .badVersion:
                #expect(result.answers.isEmpty && result.authorityCount == 0, context)
            }
            // RFC 6891 §7: an OPT in the reply exactly when the query had one; the sinkhole
            // speaks version 0 and advertises 1232 bytes.
            if c.opt {
                #expect(result.opt?.version == 0 && result.opt?.udpSize == 1232, context)
            } else {
                #expect(result.opt == nil, context)
            }
            #expect(result.transport == c.transport, context)
            #expect(result.retriedOverTCP == c.retried, context)
        }

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let rows = try sqliteRows(setup.database,
                                  "SELECT qname, sum(count), group_concat(DISTINCT last_rcode), group_concat(DISTINCT family) FROM dns_queries GROUP BY qname")
        let stored = Dictionary(uniqueKeysWithValues: rows.map { ($0[0], $0) })
        var total = 0
        for c in Self.clientCases {
            let expected = c.stored
            total += expected.count
            #expect(stored[c.name]?[1] == "\(expected.count)" && stored[c.name]?[2] == "\(expected.rcode)",
                    "\(c): stored \(stored[c.name] ?? []), expected \(expected.count) queries with rcode \(expected.rcode)")
        }
        #expect(stored["d12.big.test"]?[3] == "big" && stored["d15.huge.test"]?[3] == "huge")
        #expect(rows.count == Self.clientCases.count, "\(rows)")
        let run = try Self.runCounters(setup)
        #expect(run.offered == total && run.stored == total && run.dropped == 0, "\(run)")
    }
}

// MARK: - Truncated queries and garbage

extension DNSClientTests {
    @Test("every truncation of a valid query over UDP and TCP, and seeded garbage: the right reply or none, each datagram stored with its rcode, the server still answers and its memory stays put")
    func truncationsAndGarbage() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try Self.start(setup)
        defer { sinkhole.terminate() }
        let pid = sinkhole.process.processIdentifier
        var offered = 0  // messages that must each be a check-in

        // Two valid queries: without EDNS (37 bytes) and with an OPT record (47 bytes).
        let plain = dnsQuery("trunc.cc.small.test", id: 0x7A01)
        let withEDNS = dnsQuery("edns.cc.small.test", id: 0x7A02, ednsPayload: 1232)
        let questionEnd = withEDNS.count - 11  // where its OPT record starts
        let sync = dnsQuery("sync.cc.small.test", id: 0x5C00)

        // Warm up (every code path once) before the memory baseline.
        let warmUp = try UDPClient(port: setup.port, from: "127.0.0.9")
        for message in [plain, withEDNS, Array(plain.prefix(20)), Array(plain.prefix(5)), sync] { warmUp.send(message) }
        offered += 5
        #expect(warmUp.receive(untilID: 0x5C00).reply != nil)
        let before = try residentKiB(pid: pid)

        // UDP, shorter than a header (0…11 bytes, the empty datagram included): no reply, and a
        // check-in with rcode "no response" (255) each.
        let runts = try UDPClient(port: setup.port, from: "127.0.0.2")
        for query in [plain, withEDNS] {
            for length in 0..<12 { runts.send(Array(query.prefix(length))) }
        }
        runts.send(sync)
        offered += 25
        let afterRunts = runts.receive(untilID: 0x5C00)
        #expect(afterRunts.reply != nil && afterRunts.before.isEmpty, "a runt got a reply: \(afterRunts.before)")

        // UDP, a header but not the whole question: FORMERR echoing the ID, no question.
        let headers = try UDPClient(port: setup.port, from: "127.0.0.3")
        for (query, end) in [(plain, plain.count), (withEDNS, questionEnd)] {
            for length in 12..<end {
                headers.send(Array(query.prefix(length)))
                let reply = try #require(headers.receive(), "no reply to the first \(length) bytes of \(query)")
                #expect(dnsID(reply) == dnsID(query) && reply[2] & 0x80 != 0 && dnsRcode(reply) == 1, "\(length): \(reply)")
                #expect(reply.count == 12, "\(length): FORMERR without a question: \(reply)")
                offered += 1
            }
        }

        // UDP, the question whole but the OPT record cut: FORMERR with the question echoed,
        // stored under the qname.
        let cutOPT = try UDPClient(port: setup.port, from: "127.0.0.4")
        for length in questionEnd..<withEDNS.count {
            cutOPT.send(Array(withEDNS.prefix(length)))
            let reply = try #require(cutOPT.receive(), "no reply to the first \(length) bytes of the EDNS query")
            #expect(dnsID(reply) == 0x7A02 && dnsRcode(reply) == 1 && reply[5] == 1, "\(length): \(reply)")
            #expect(reply.count == questionEnd, "\(length): the question echoed, no OPT: \(reply)")
            offered += 1
        }

        // TCP, the same truncations as whole frames, pipelined on one connection: replies for
        // the FORMERR ones only, in order; every message is a check-in.
        let tcpRunts = try TCPClient(port: setup.port, from: "127.0.0.5")
        try tcpRunts.send([plain, withEDNS].flatMap { query in (1..<12).flatMap { framed(Array(query.prefix($0))) } } + framed(sync))
        offered += 23
        let firstReply = try #require(tcpRunts.readMessage(), "no reply over TCP")
        #expect(dnsID(firstReply) == 0x5C00, "a runt got a reply over TCP: \(firstReply)")
        let tcpCut = try TCPClient(port: setup.port, from: "127.0.0.6")
        var expectedReplies: [(id: UInt16, length: Int)] = []
        var frames: [UInt8] = []
        for query in [plain, withEDNS] {
            for length in 12..<query.count {
                frames += framed(Array(query.prefix(length)))
                expectedReplies.append((dnsID(query), length >= questionEnd && query == withEDNS ? questionEnd : 12))
            }
        }
        try tcpCut.send(frames + framed(sync))
        offered += expectedReplies.count + 1
        for (index, expected) in expectedReplies.enumerated() {
            let reply = try #require(tcpCut.readMessage(), "TCP reply \(index) of \(expectedReplies.count) missing")
            #expect(dnsID(reply) == expected.id && dnsRcode(reply) == 1 && reply.count == expected.length, "\(index): \(reply)")
        }
        #expect(tcpCut.readMessage().map(dnsID) == 0x5C00)

        // TCP, frames whose payload never arrives whole (the prefix promises the full query):
        // at end of stream the partial message is dropped, nothing answered or stored, and the
        // server closes the connection.
        for length in 0..<plain.count {
            let partial = try TCPClient(port: setup.port, receiveTimeoutSeconds: 5, from: "127.0.0.7")
            try partial.send(Array(framed(plain).prefix(2 + length)))
            partial.shutdownWrite()
            #expect(partial.closedByPeer(), "a connection ending mid-frame (\(length) of \(plain.count) bytes) was not closed")
        }
        // A zero-length frame ends the connection after the replies before it; it is no query.
        let empty = try TCPClient(port: setup.port, from: "127.0.0.8")
        try empty.send(framed(sync) + [0, 0] + framed(plain))
        offered += 1
        #expect(empty.readMessage().map(dnsID) == 0x5C00)
        #expect(empty.closedByPeer())

        // Seeded garbage: random bytes, and the EDNS query with bytes flipped or cut, paced by a
        // synchronising query every 50 so no datagram can be lost in the kernel's buffer.
        var rng = SplitMix64(seed: 0xD1C7)
        let garbage = try UDPClient(port: setup.port, from: "127.0.0.10")
        for round in 0..<60 {
            for i in 0..<50 {
                var bytes: [UInt8]
                switch i % 3 {
                case 0: bytes = (0..<Int(rng.next() % 600)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                case 1:
                    bytes = withEDNS
                    for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                default:
                    bytes = Array(withEDNS.prefix(Int(rng.next() % UInt64(withEDNS.count))))
                    bytes += (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                }
                garbage.send(bytes)
            }
            let id = 0x5D00 + UInt16(round)
            garbage.send(dnsQuery("sync.cc.small.test", id: id))
            offered += 51
            let synced = garbage.receive(untilID: id)
            #expect(synced.reply.map { Array($0.suffix(4)) } == [198, 51, 100, 10], "round \(round): no answer to the sync query")
        }

        // Still answering, over UDP and TCP, to both tools.
        let udp = try dig(server: "127.0.0.1", port: setup.port, name: "after.cc.small.test")
        #expect(udp.status == "NOERROR" && udp.answers == ["after.cc.small.test. 600 IN A 198.51.100.10"], "\(udp.output)")
        let tcp = try kdig(server: "127.0.0.1", port: setup.port, name: "after.cc.small.test", options: ["+tcp"])
        #expect(tcp.status == "NOERROR" && tcp.answers == ["after.cc.small.test. 600 IN A 198.51.100.10"], "\(tcp.output)")
        offered += 2
        let after = try residentKiB(pid: pid)
        #expect(before > 0 && after - before < 16 * 1024, "resident memory grew from \(before) KiB to \(after) KiB")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        func rows(_ source: String) throws -> [[String]] {
            try sqliteRows(setup.database, """
                SELECT qname, qtype, sum(count), group_concat(DISTINCT last_rcode) FROM dns_queries
                WHERE src_ip = '\(source)' GROUP BY qname, qtype ORDER BY qname
                """)
        }
        // 24 runts, stored with rcode 255 (no response), and the sync query.
        #expect(try rows("127.0.0.2") == [["", "0", "24", "255"], ["sync.cc.small.test", "1", "1", "0"]])
        // 25 + 24 headers without a whole question: FORMERR (1), no name.
        #expect(try rows("127.0.0.3") == [["", "0", "49", "1"]])
        // 11 cuts of the OPT record: FORMERR, under the query's name and type.
        #expect(try rows("127.0.0.4") == [["edns.cc.small.test", "1", "11", "1"]])
        #expect(try rows("127.0.0.5") == [["", "0", "22", "255"], ["sync.cc.small.test", "1", "1", "0"]])
        #expect(try rows("127.0.0.6") == [["", "0", "49", "1"], ["edns.cc.small.test", "1", "11", "1"],
                                          ["sync.cc.small.test", "1", "1", "0"]])
        #expect(try rows("127.0.0.7") == [], "a message that never arrived whole is not a query")
        #expect(try rows("127.0.0.8") == [["sync.cc.small.test", "1", "1", "0"]])
        let garbageRows = try sqliteRows(setup.database, "SELECT sum(count) FROM dns_queries WHERE src_ip = '127.0.0.10'")
        #expect(garbageRows == [["\(60 * 51)"]], "every garbage datagram is a check-in")
        // Every datagram and message offered was stored; nothing dropped.
        let run = try Self.runCounters(setup)
        #expect(run.offered == offered && run.stored == offered && run.dropped == 0, "\(run), sent \(offered)")
        #expect(try sqliteRows(setup.database, "SELECT sum(count) FROM dns_queries") == [["\(offered)"]])
    }
}

// MARK: - Reload under load

extension DNSClientTests {
    @Test("SIGHUP reloads during a paced UDP flood lose no query: every answer is the old or the new list's, and the store counts every query sent")
    func reloadDuringFlood() throws {
        let setup = try Self.makeSetup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let sinkhole = try Self.start(setup)
        defer { sinkhole.terminate() }
        let first = try dig(server: "127.0.0.1", port: setup.port, name: "x.flip.test")
        #expect(first.answers == ["x.flip.test. 600 IN A \(Self.alphaAnswer)"], "\(first.output)")

        let total = 50_000
        let reloads = 4
        let step = total / (reloads + 2)
        // Holds before the last sixth until every reload is in force, so the last answers come
        // from the final lists whatever the machine's speed.
        let flood = PacedUDPFlood(port: setup.port, name: "x.flip.test", total: total, holdAt: total - step)
        var inAlpha = true
        var answeredAtReload = 0
        for reload in 1...reloads {
            // Mid-flood: a share of the queries answered, and enough since the last reload that
            // the previous lists answered some (500 ≫ the 32 in flight).
            #expect(flood.waitForAnswered(min(max(reload * step, answeredAtReload + 500), flood.holdAt)),
                    "the flood stalled before reload \(reload)")
            inAlpha.toggle()
            try (Self.filler("alpha") + (inAlpha ? "flip.test\n" : "") + "added-\(reload).alpha.test\n")
                .write(to: setup.list("alpha.txt"), atomically: true, encoding: .utf8)
            kill(sinkhole.process.processIdentifier, SIGHUP)
            let deadline = ContinuousClock.now + .seconds(30)
            while Self.reloadsLogged(sinkhole) < reload && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            #expect(Self.reloadsLogged(sinkhole) == reload, "reload \(reload) not logged:\n\(sinkhole.stderr)")
            answeredAtReload = flood.answered
        }
        let outcome = try #require(flood.finish(), "the flood did not end")

        #expect(!outcome.timedOut && outcome.sent == total, "sent \(outcome.sent) of \(total) within the time bound")
        #expect(outcome.unanswered == 0, "\(outcome.unanswered) queries got no reply")
        #expect(outcome.badReplyCount == 0, "\(outcome.badReplyCount) bad replies, e.g. \(outcome.badReplies)")
        // Only the two lists' answers, each reload switching once: no query was answered from
        // a mix, or from neither (REFUSED would be a bad reply above).
        #expect(Set(outcome.answers.keys).isSubset(of: [Self.alphaAnswer, Self.betaAnswer]), "\(outcome.answers)")
        #expect(outcome.transitions == reloads, "answers switched \(outcome.transitions) times over \(reloads) reloads")
        #expect(outcome.answers.values.reduce(0, +) == total)
        // The reloaded list is in force after the flood too (4 toggles: back in alpha).
        let last = try dig(server: "127.0.0.1", port: setup.port, name: "added-\(reloads).alpha.test")
        #expect(last.answers == ["added-\(reloads).alpha.test. 600 IN A \(Self.alphaAnswer)"], "\(last.output)")
        #expect(!sinkhole.stderr.contains("reload failed"), "\(sinkhole.stderr)")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let flooded = try sqliteRows(setup.database, "SELECT sum(count) FROM dns_queries WHERE qname = 'x.flip.test' AND src_ip = '127.0.0.1'")
        let families = try sqliteRows(setup.database, "SELECT DISTINCT family FROM dns_queries WHERE qname = 'x.flip.test' ORDER BY 1")
        #expect(Set(families.map { $0[0] }).isSubset(of: ["alpha", "beta"]), "\(families)")
        let run = try Self.runCounters(setup)
        let sent = outcome.sent + 2  // and the two digs
        // Stored = sent − dropped, exactly; at this pace nothing is dropped.
        #expect(run.offered == sent && run.stored == sent - run.dropped, "\(run), sent \(sent)")
        #expect(run.dropped == 0, "\(run)")
        // The flood, and the first dig for the same name.
        #expect(flooded == [["\(outcome.sent + 1 - run.dropped)"]], "\(flooded), flooded \(outcome.sent)")
    }

    static func reloadsLogged(_ sinkhole: SinkholeProcess) -> Int {
        sinkhole.stderr.components(separatedBy: "seized names reloaded").count - 1
    }
}
