import NIOCore
import SinkholeCore
import SinkholeDNS
import Testing

/// `DNSResponder.respond(to:into:checkIn:limiter:)` and `DNSUDPExchange` with times injected as
/// offsets from `t0`: which replies go out whole, which slip (TC=1, no records) and which are
/// dropped, which account each query is charged to, and that every query is logged either way.
/// No clock is read and nothing sleeps.
@Suite("Rate-limited answers over UDP")
struct DNSRateLimitTests {
    static let t0 = UTCTime(seconds: 1_750_000_000)
    static let client = IPAddress("203.0.113.9")!

    static func at(milliseconds: Int64) -> UTCTime {
        UTCTime(microseconds: t0.microseconds + milliseconds * 1000)
    }

    static func limiter(rate: Int = 5, window: Int = 15, slip: Int = 2) -> ResponseRateLimiter {
        ResponseRateLimiter(.init(responsesPerSecond: rate, window: window, slip: slip))
    }

    /// What happened to one query.
    enum Fate: Equatable { case full, slip, drop }

    struct Outcome {
        var fate: Fate
        var response: DecodedResponse?
        var checkIn: CheckIn
    }

    /// One UDP query from `client` at `time`, answered under `limiter`.
    static func ask(_ query: [UInt8], from client: IPAddress = client, at time: UTCTime = t0,
                    responder: DNSResponder, limiter: inout ResponseRateLimiter) throws -> Outcome {
        var checkIn = CheckIn.blank
        checkIn.source = client
        checkIn.time = time
        var out = ByteBuffer()
        guard responder.respond(to: buffer(query), into: &out, checkIn: &checkIn, limiter: &limiter) else {
            #expect(out.readableBytes == 0, "nothing is written when nothing is sent")
            #expect(checkIn.rateLimited, "only a limited query goes unanswered here")
            return Outcome(fate: .drop, response: nil, checkIn: checkIn)
        }
        let response = try DecodedResponse(out)
        #expect(response.header.truncated == checkIn.rateLimited, "a sent reply is truncated exactly when it was limited")
        return Outcome(fate: checkIn.rateLimited ? .slip : .full, response: response, checkIn: checkIn)
    }

    /// Checks that `slip` is the full reply cut to its header, question and OPT: TC set, no
    /// answer or authority, the same ID, rcode, flags and question, an OPT exactly when the
    /// query had one.
    static func expectSlip(_ slip: DecodedResponse, full: DecodedResponse, edns: Bool) {
        #expect(slip.header.truncated)
        #expect(slip.header.id == full.header.id && slip.rcode == full.rcode)
        #expect(slip.header.isResponse && slip.header.opcode == full.header.opcode)
        #expect(slip.header.authoritativeAnswer == full.header.authoritativeAnswer)
        #expect(slip.header.recursionDesired == full.header.recursionDesired && !slip.header.recursionAvailable)
        #expect(slip.header.answerCount == 0 && slip.header.authorityCount == 0)
        #expect(slip.answers.isEmpty && slip.authority.isEmpty)
        #expect(slip.question == full.question)
        #expect(slip.header.additionalCount == (edns ? 1 : 0) && (slip.edns != nil) == edns)
        let questionLength = slip.question.map { $0.name.wire.count + 4 } ?? 0
        #expect(slip.byteCount == 12 + questionLength + (edns ? 11 : 0))
    }

    // MARK: - Slip and drop

    @Test("a burst of 20 answers to one client: 5 whole, then slip and drop in turn, every query logged in full",
          arguments: [false, true])
    func burst(edns: Bool) throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        var fullReply: DecodedResponse?
        var fates: [Fate] = []
        for i in 0..<20 {
            let query = edns ? WireQuery.withEDNS("www.evil.example", id: UInt16(i)) : WireQuery.make("www.evil.example", id: UInt16(i))
            let outcome = try Self.ask(query, responder: responder, limiter: &limiter)
            fates.append(outcome.fate)
            if i == 0 { fullReply = outcome.response }
            let event = outcome.checkIn
            #expect(event.name.text == "www.evil.example" && event.dnsType == 1 && event.family.text == "rustock")
            #expect(event.dnsRcode == 0 && event.source == Self.client && event.time == Self.t0)
            #expect(event.rateLimited == (i >= 5), "query \(i)")
            guard let response = outcome.response else { continue }
            #expect(response.header.id == UInt16(i))
            switch outcome.fate {
            case .full:
                #expect(response.addresses == [Fixtures.v4a, Fixtures.v4b] && !response.header.truncated)
                #expect((response.edns != nil) == edns)
            case .slip:
                var expected = try #require(fullReply)
                expected.header.id = UInt16(i)
                Self.expectSlip(response, full: expected, edns: edns)
            case .drop:
                break
            }
        }
        #expect(fates == Array(repeating: .full, count: 5) + (0..<15).map { $0.isMultiple(of: 2) ? .slip : .drop })
        #expect(limiter.counts == ResponseRateLimiter.Counts(limited: 15, slipped: 8, dropped: 7))
    }

    @Test("slip 0 drops every limited reply")
    func slipZero() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter(slip: 0)
        let fates = try (0..<20).map { i in
            try Self.ask(WireQuery.make("evil.example", id: UInt16(i)), responder: responder, limiter: &limiter).fate
        }
        #expect(fates == Array(repeating: .full, count: 5) + Array(repeating: .drop, count: 15))
        #expect(limiter.counts == ResponseRateLimiter.Counts(limited: 15, slipped: 0, dropped: 15))
    }

    @Test("a rate of 0 never limits: 1000 answers, refusals and errors from one client all go out whole")
    func rateZero() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter(rate: 0)
        let queries = [WireQuery.make("evil.example"), WireQuery.make("www.example.com"), WireQuery.header(qd: 0),
                       WireQuery.make("evil.example", type: 15)]
        for i in 0..<1000 {
            let outcome = try Self.ask(queries[i % queries.count], responder: responder, limiter: &limiter)
            #expect(outcome.fate == .full && !outcome.checkIn.rateLimited)
        }
        #expect(limiter.counts == ResponseRateLimiter.Counts())
        #expect(limiter.accountCount == 0)
    }

    @Test("the slip of an error with no question to echo is still marked truncated")
    func slipWithoutQuestion() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter(rate: 1)
        let full = try Self.ask(WireQuery.header(id: 1, qd: 0), responder: responder, limiter: &limiter)
        #expect(full.fate == .full && full.response?.rcode == DNSRcode.formErr.rawValue)
        // BIND sets TC on every slipped reply; without it this reply is the full FORMERR again
        // and a client cannot tell that it was limited.
        var checkIn = CheckIn.blank
        checkIn.source = Self.client
        checkIn.time = Self.t0
        var out = ByteBuffer()
        #expect(responder.respond(to: buffer(WireQuery.header(id: 2, qd: 0)), into: &out, checkIn: &checkIn, limiter: &limiter))
        #expect(checkIn.rateLimited && checkIn.dnsRcode == DNSRcode.formErr.rawValue)
        let slip = try DecodedResponse(out)
        #expect(slip.header.id == 2 && slip.rcode == DNSRcode.formErr.rawValue && slip.question == nil)
        #expect(slip.header.truncated, "a slipped FORMERR without a question has TC clear")
    }

    // MARK: - Accounts

    @Test("random subdomains of one seized name share its account; another seized name has its own")
    func subdomainsShareTheApexAccount() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        for name in ["evil.example", "a1b2.evil.example", "X.Y.EVIL.Example", "update.evil.example", "zz9.evil.example"] {
            let outcome = try Self.ask(WireQuery.make(name), responder: responder, limiter: &limiter)
            #expect(outcome.fate == .full && outcome.checkIn.name.text == name)
        }
        let sixth = try Self.ask(WireQuery.make("never-seen-before.evil.example"), responder: responder, limiter: &limiter)
        #expect(sixth.fate == .slip && sixth.checkIn.name.text == "never-seen-before.evil.example")
        #expect(sixth.checkIn.family.text == "rustock" && sixth.checkIn.dnsRcode == 0)
        // Other apexes: one of the same family, and one below evil.example (the longest match).
        for name in ["c2.bad.test", "x.sub.evil.example"] {
            let outcome = try Self.ask(WireQuery.make(name), responder: responder, limiter: &limiter)
            #expect(outcome.fate == .full, "\(name)")
        }
        #expect(limiter.accountCount == 3)
    }

    @Test("NODATA answers have an account of their own, apart from the positive answers of the same name")
    func nodataSeparate() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        func fates(_ name: String, type: UInt16, _ count: Int) throws -> [Fate] {
            try (0..<count).map { _ in try Self.ask(WireQuery.make(name, type: type), responder: responder, limiter: &limiter).fate }
        }
        #expect(try fates("a.evil.example", type: 1, 6) == [.full, .full, .full, .full, .full, .slip])
        // MX under the same seized name: NODATA, charged to its own account, still full.
        let nodata = try Self.ask(WireQuery.make("b.evil.example", type: 15), responder: responder, limiter: &limiter)
        #expect(nodata.fate == .full && nodata.response?.answers.isEmpty == true)
        #expect(nodata.response?.authority.map(\.type) == [DNSRecordType.soa])
        #expect(try fates("c.evil.example", type: 16, 4) == [.full, .full, .full, .full])
        let limited = try Self.ask(WireQuery.make("d.evil.example", type: 15), responder: responder, limiter: &limiter)
        #expect(limited.fate == .slip && limited.checkIn.rateLimited && limited.checkIn.dnsType == 15)
        #expect(limited.response?.header.authorityCount == 0, "the slip leaves out the SOA too")
        // NODATA under another seized name is another account.
        #expect(try fates("v4only.example", type: 28, 1) == [.full])
    }

    @Test("refusals share one account per client /24, whatever the name asked")
    func refusedPerPrefix() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        let refused: [(String, [UInt8])] = [
            ("203.0.113.1", WireQuery.make("www.example.com")),
            ("203.0.113.2", WireQuery.make("a.example.net", type: 28)),
            ("203.0.113.3", WireQuery.make("evil.example", class: 3)),  // CHAOS: refused even when seized
            ("203.0.113.4", WireQuery.make("evil.example", type: 252)),  // AXFR
            ("203.0.113.5", WireQuery.make("xevil.example")),
        ]
        for (client, query) in refused {
            let outcome = try Self.ask(query, from: IPAddress(client)!, responder: responder, limiter: &limiter)
            #expect(outcome.fate == .full && outcome.checkIn.dnsRcode == DNSRcode.refused.rawValue)
        }
        let query = WireQuery.withEDNS("something.else.example", id: 77)
        let sixth = try Self.ask(query, from: IPAddress("203.0.113.250")!, responder: responder, limiter: &limiter)
        #expect(sixth.fate == .slip)
        #expect(sixth.checkIn.rateLimited && sixth.checkIn.dnsRcode == DNSRcode.refused.rawValue)
        #expect(sixth.checkIn.name.text == "something.else.example" && sixth.checkIn.family.isEmpty)
        let slip = try #require(sixth.response)
        #expect(slip.header.truncated && slip.rcode == DNSRcode.refused.rawValue && slip.header.id == 77)
        #expect(slip.question?.name.presentation == "something.else.example" && slip.edns != nil)
        // Another /24 is another account; answers from the limited /24 are yet another.
        #expect(try Self.ask(WireQuery.make("www.example.com"), from: IPAddress("198.51.100.1")!,
                             responder: responder, limiter: &limiter).fate == .full)
        #expect(try Self.ask(WireQuery.make("evil.example"), from: IPAddress("203.0.113.6")!,
                             responder: responder, limiter: &limiter).fate == .full)
    }

    @Test("FORMERR, NOTIMP and BADVERS share the per-prefix error account, apart from refusals")
    func errorsPerPrefix() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        let errors: [([UInt8], DNSRcode)] = [
            (WireQuery.header(qd: 0), .formErr),
            (WireQuery.header(qd: 2) + WireQuery.name("a.example") + WireQuery.u16(1) + WireQuery.u16(1)
                + WireQuery.name("b.example") + WireQuery.u16(1) + WireQuery.u16(1), .formErr),
            (WireQuery.make("evil.example", flags: 0x1100), .notImp),  // OPCODE 2 (STATUS)
            (WireQuery.withEDNS("evil.example", opt: WireQuery.opt(version: 1)), .badVers),
            // ARCOUNT 1 and no record: FORMERR with the question echoed.
            (WireQuery.header(ar: 1) + WireQuery.name("evil.example") + WireQuery.u16(1) + WireQuery.u16(1), .formErr),
        ]
        for (query, rcode) in errors {
            let outcome = try Self.ask(query, responder: responder, limiter: &limiter)
            #expect(outcome.fate == .full && outcome.checkIn.dnsRcode == rcode.rawValue)
            #expect(outcome.response?.rcode == rcode.rawValue)
        }
        let notimp = WireQuery.make("www.evil.example", id: 9, flags: 0x1100)
        let sixth = try Self.ask(notimp, responder: responder, limiter: &limiter)
        #expect(sixth.fate == .slip && sixth.checkIn.rateLimited)
        #expect(sixth.checkIn.dnsRcode == DNSRcode.notImp.rawValue && sixth.checkIn.name.text == "www.evil.example")
        #expect(sixth.checkIn.family.text == "rustock", "a named seized domain labels the check-in whatever the answer")
        #expect(sixth.response?.header.truncated == true && sixth.response?.rcode == DNSRcode.notImp.rawValue)
        let badvers = try Self.ask(WireQuery.withEDNS("evil.example", opt: WireQuery.opt(version: 1)),
                                   responder: responder, limiter: &limiter)
        #expect(badvers.fate == .drop && badvers.checkIn.dnsRcode == DNSRcode.badVers.rawValue)
        // Refusals are a separate account: still whole.
        #expect(try Self.ask(WireQuery.make("www.example.com"), responder: responder, limiter: &limiter).fate == .full)
    }

    @Test("clients in different /24s have independent accounts; clients in one /24 share, mapped IPv4 included")
    func ipv4Prefixes() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        func fate(_ client: String) throws -> Fate {
            try Self.ask(WireQuery.make("evil.example"), from: IPAddress(client)!, responder: responder, limiter: &limiter).fate
        }
        for last in 1...5 { #expect(try fate("198.51.100.\(last)") == .full) }
        #expect(try fate("198.51.100.254") == .slip)
        #expect(try fate("::ffff:198.51.100.9") == .drop, "an IPv4-mapped client is its IPv4 address")
        for last in 1...5 { #expect(try fate("203.0.113.\(last)") == .full) }
        #expect(try fate("203.0.113.0") == .slip)
    }

    @Test("IPv6 clients are grouped by /56")
    func ipv6Prefixes() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        func fate(_ client: String) throws -> Fate {
            try Self.ask(WireQuery.make("evil.example", type: 28), from: IPAddress(client)!, responder: responder, limiter: &limiter).fate
        }
        for i in 1...5 { #expect(try fate("2001:db8:0:1::\(i)") == .full) }
        // 2001:db8:0:00ff:: is in 2001:db8::/56 too; 2001:db8:0:100:: is the next /56.
        #expect(try fate("2001:db8:0:ff:ffff:ffff:ffff:ffff") == .slip)
        #expect(try fate("2001:db8::") == .drop)
        for _ in 1...5 { #expect(try fate("2001:db8:0:100::1") == .full) }
        #expect(try fate("2001:db8:0:1ff::1") == .slip)
    }

    // MARK: - Time

    @Test("credit comes back with time: a second later the account sends the rate less its debt")
    func refillAfterASecond() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        func fates(_ count: Int, at milliseconds: Int64) throws -> [Fate] {
            try (0..<count).map { _ in
                try Self.ask(WireQuery.make("evil.example"), at: Self.at(milliseconds: milliseconds),
                             responder: responder, limiter: &limiter).fate
            }
        }
        // Balance 5 → 0 after five, −1 after the sixth.
        #expect(try fates(6, at: 0) == [.full, .full, .full, .full, .full, .slip])
        // 100 ms earn half a response: not enough.
        #expect(try fates(1, at: 100) == [.drop])
        // At 1 s: −1.5 + 0.9 s × 5 = 3 → three whole, then limited again (the slip cycle goes on).
        #expect(try fates(4, at: 1000) == [.full, .full, .full, .slip])
        // A client that keeps to the rate from a full account is never limited.
        var steady = Self.limiter()
        for second in 0..<5 {
            for _ in 0..<5 {
                let outcome = try Self.ask(WireQuery.make("evil.example"), at: Self.at(milliseconds: Int64(second) * 1000),
                                           responder: responder, limiter: &steady)
                #expect(outcome.fate == .full, "second \(second)")
            }
        }
        #expect(steady.counts.limited == 0)
    }

    // MARK: - TCP and the exchange

    @Test("the TCP path is never limited: 1000 answers to a client whose UDP account is spent")
    func tcpNeverLimited() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        var last = try (0..<6).map { _ in try Self.ask(WireQuery.make("evil.example"), responder: responder, limiter: &limiter) }.last
        #expect(last?.fate == .slip)
        var checkIn = try #require(last?.checkIn)  // rateLimited set: respond must clear it
        for i in 0..<1000 {
            var out = ByteBuffer()
            let sent = responder.respond(to: buffer(WireQuery.make("evil.example", id: UInt16(i))), into: &out,
                                         checkIn: &checkIn, transport: .tcp)
            #expect(sent && !checkIn.rateLimited && checkIn.dnsRcode == 0 && checkIn.family.text == "rustock")
            let response = try DecodedResponse(out)
            #expect(response.header.id == UInt16(i) && !response.header.truncated)
            #expect(response.addresses == [Fixtures.v4a, Fixtures.v4b])
        }
        // And over UDP the account is as spent as before.
        last = try Self.ask(WireQuery.make("evil.example"), responder: responder, limiter: &limiter)
        #expect(last?.fate == .drop)
        #expect(limiter.counts.limited == 2)
    }

    @Test("DNSUDPExchange gives the responder's verdicts and bytes, and leaves no reply behind a drop")
    func exchangeMatchesResponder() throws {
        let responder = try Fixtures.responder()
        var limiter = Self.limiter()
        var exchange = DNSUDPExchange(responder: responder, rateLimit: .init(responsesPerSecond: 5))
        for i in 0..<20 {
            let query = buffer(WireQuery.withEDNS("q\(i).evil.example", id: UInt16(i)))
            var expected = CheckIn.blank
            expected.source = Self.client
            expected.time = Self.t0
            var got = expected
            var out = ByteBuffer()
            let sent = responder.respond(to: query, into: &out, checkIn: &expected, limiter: &limiter)
            #expect(exchange.answer(query, checkIn: &got) == sent, "query \(i)")
            #expect(sent ? exchange.reply == out : exchange.reply.readableBytes == 0, "query \(i)")
            #expect(got.rateLimited == expected.rateLimited && got.name.text == expected.name.text)
            #expect(got.dnsRcode == expected.dnsRcode && got.family.text == expected.family.text)
        }
        #expect(exchange.limiter.counts == limiter.counts)
        #expect(exchange.reply.capacity >= DNSUDPExchange.replyCapacity)
    }

    @Test("an exchange keeps its accounts when a reload replaces its responder")
    func exchangeKeepsAccountsAcrossReload() throws {
        var exchange = DNSUDPExchange(responder: try Fixtures.responder(), rateLimit: .init(responsesPerSecond: 5))
        func answer(_ name: String, from client: IPAddress = Self.client) -> (sent: Bool, checkIn: CheckIn) {
            var checkIn = CheckIn.blank
            checkIn.source = client
            checkIn.time = Self.t0
            let sent = exchange.answer(buffer(WireQuery.make(name)), checkIn: &checkIn)
            return (sent, checkIn)
        }
        for _ in 0..<5 { #expect(answer("evil.example").checkIn.rateLimited == false) }
        exchange.responder = try Fixtures.responder(ttl: 60)
        let limited = answer("evil.example")
        #expect(limited.sent && limited.checkIn.rateLimited, "a reload must not refill a flooder")
        // The new responder answers whoever is not limited.
        let other = answer("evil.example", from: IPAddress("198.51.100.20")!)
        #expect(other.sent && !other.checkIn.rateLimited)
        #expect(try DecodedResponse(exchange.reply).answers.map(\.ttl) == [60, 60])
    }
}
