import SinkholeCore
import SinkholeDNS
import Testing

/// Time is injected as microsecond offsets from `t0`; nothing here reads a clock or sleeps.
/// Expected counts are worked out in the comments from BIND's rule: credit `rate` per second
/// (capped at `rate`), debit 1 per response, send while the balance is ≥ 0 after the debit,
/// floor at `−window × rate`.
@Suite("Response rate limiting, as BIND's RRL")
struct ResponseRateLimiterTests {
    typealias Limiter = ResponseRateLimiter
    static let t0 = UTCTime(seconds: 1_750_000_000)
    static let second: Int64 = 1_000_000
    static let client = IPAddress("198.51.100.1")!

    static func at(_ microseconds: Int64) -> UTCTime {
        UTCTime(microseconds: t0.microseconds + microseconds)
    }

    static func limiter(rate: Int = 20, window: Int = 15, slip: Int = 2, v4: Int = 24, v6: Int = 56,
                        capacity: Int = 1024) -> Limiter {
        Limiter(Limiter.Settings(responsesPerSecond: rate, window: window, slip: slip,
                                 ipv4PrefixLength: v4, ipv6PrefixLength: v6, capacity: capacity))
    }

    // MARK: - The rate

    @Test("the defaults are BIND's and the configuration's: 20/s, window 15, slip 2, /24, /56")
    func defaults() {
        let settings = Limiter.Settings()
        #expect(settings == Limiter.Settings(responsesPerSecond: 20, window: 15, slip: 2,
                                             ipv4PrefixLength: 24, ipv6PrefixLength: 56, capacity: 65_536))
        let limiter = Limiter(settings)
        #expect(limiter.isEnabled)
        #expect(limiter.settings == settings)
        #expect(limiter.counts == Limiter.Counts())
        #expect(limiter.accountCount == 0)
    }

    @Test("a new account starts full: exactly responsesPerSecond are sent at once, then none",
          arguments: [1, 2, 20, 1000])
    func burst(rate: Int) {
        var limiter = Self.limiter(rate: rate)
        let verdicts = limiter.run(rate + 5, at: Self.t0)
        #expect(verdicts.prefix(rate).allSatisfy { $0 == .send })
        #expect(verdicts.dropFirst(rate).allSatisfy { $0 != .send })
        #expect(limiter.counts.limited == 5)
        #expect(limiter.accountCount == 1)
    }

    @Test("a flood spread over one simulated second gets exactly responsesPerSecond responses")
    func floodOverOneSecond() {
        // 1000 queries 1 ms apart, each ms earning 0.02: after query k the balance is
        // 20 + 0.02k − (k + 1), ≥ 0 up to k = 19. Limited queries are debited too, so the
        // credit never catches up.
        var limiter = Self.limiter()
        var sent: [Int] = []
        for k in 0..<1000 where limiter.verdict(at: Self.at(Int64(k) * 1000)) == .send { sent.append(k) }
        #expect(sent == Array(0..<20))
        #expect(limiter.counts.limited == 980)
    }

    @Test("a client asking at exactly the rate is never limited over a simulated minute")
    func exactlyTheRate() {
        var limiter = Self.limiter()
        var sent = 0
        for k in 0..<1200 where limiter.verdict(at: Self.at(Int64(k) * 50_000)) == .send { sent += 1 }
        #expect(sent == 1200)
        #expect(limiter.counts.limited == 0)
    }

    @Test("at twice the rate the burst and the credit earned while it drains are sent, then nothing")
    func twiceTheRate() {
        // 25 ms apart, 0.5 earned per gap: after query k the balance is 19 − 0.5k, ≥ 0 up to
        // k = 38; after that the debt only deepens, to the floor, for as long as the flood lasts.
        var limiter = Self.limiter()
        var sent: [Int] = []
        for k in 0..<400 where limiter.verdict(at: Self.at(Int64(k) * 25_000)) == .send { sent.append(k) }
        #expect(sent == Array(0...38))
    }

    @Test("credit comes back with time, and never more than one second's worth")
    func refill() {
        var limiter = Self.limiter()
        #expect(limiter.run(20, at: Self.t0).allSatisfy { $0 == .send })  // balance 0
        // Half a second earns 10.
        let half = limiter.run(11, at: Self.at(Self.second / 2))
        #expect(half.prefix(10).allSatisfy { $0 == .send })
        #expect(half[10] != .send)  // balance −1
        // Five more seconds would earn 100, but the balance stops at +20.
        let later = limiter.run(21, at: Self.at(5 * Self.second + Self.second / 2))
        #expect(later.prefix(20).allSatisfy { $0 == .send })
        #expect(later[20] != .send)
    }

    // MARK: - The window

    @Test("a short flood's debt is paid off at the rate, to the microsecond")
    func shortFloodDebt() {
        // 200 queries 5 ms apart (10× the rate), each gap earning 0.1: the balance ends at
        // 20 − 200 + 199 × 0.1 = −160.1, well above the floor of −300. One response needs a
        // balance of +1 before its debit: 161.1 more, which takes 8.055 s at 20/s.
        var limiter = Self.limiter()
        for k in 0..<200 { _ = limiter.verdict(at: Self.at(Int64(k) * 5000)) }
        let end: Int64 = 199 * 5000
        var early = limiter
        #expect(early.verdict(at: Self.at(end + 8_055_000 - 1)) != .send)
        var onTime = limiter
        #expect(onTime.verdict(at: Self.at(end + 8_055_000)) == .send)
    }

    @Test("after a long flood, sends resume once the client has been quiet for the whole window",
          arguments: [1, 5, 15, 3600])
    func longFloodRecovery(window: Int) {
        // 10× the rate (5 ms apart, each query netting −0.9) for 25 × window + 100 queries,
        // past the point where the debt reaches the floor, −window × 20. After exactly
        // `window` quiet seconds the credit has just cancelled it (balance 0, so the debit
        // leaves −1); a microsecond later the account is older than the window and starts
        // over full.
        var limiter = Self.limiter(window: window)
        let flood = 25 * window + 100
        for k in 0..<flood { _ = limiter.verdict(at: Self.at(Int64(k) * 5000)) }
        let end = Int64(flood - 1) * 5000
        let quiet = Int64(window) * Self.second
        var atWindow = limiter
        #expect(atWindow.verdict(at: Self.at(end + quiet)) != .send)
        var afterWindow = limiter
        #expect(afterWindow.run(21, at: Self.at(end + quiet + 1)).filter { $0 == .send }.count == 20)
    }

    @Test("the debt of a long flood stops at window × rate, so a partly quiet client is not punished longer")
    func debtFloor() {
        // A minute at 10× the rate would owe 20 + 11 999 × 0.1 − 12 000 ≈ 10 780 unfloored;
        // floored it owes 300. 14 quiet seconds earn 280: the probe leaves −21, and 1.1 s
        // later 22 more make +1, enough for one response.
        var limiter = Self.limiter()
        for k in 0..<12_000 { _ = limiter.verdict(at: Self.at(Int64(k) * 5000)) }
        let end: Int64 = 11_999 * 5000
        #expect(limiter.verdict(at: Self.at(end + 14 * Self.second)) != .send)
        var early = limiter
        #expect(early.verdict(at: Self.at(end + 15_100_000 - 1)) != .send)
        #expect(limiter.verdict(at: Self.at(end + 15_100_000)) == .send)
    }

    // MARK: - Slip

    @Test("the first limited response slips and then every slip-th one; slip 0 drops them all",
          arguments: [0, 1, 2, 3, 10])
    func slipCycle(slip: Int) {
        var limiter = Self.limiter(slip: slip)
        _ = limiter.run(20, at: Self.t0)
        let limited = limiter.run(30, at: Self.t0)
        let expected: [Limiter.Verdict] = (0..<30).map { slip != 0 && $0 % slip == 0 ? .slip : .drop }
        #expect(limited == expected)
        let slipped = expected.filter { $0 == .slip }.count
        #expect(limiter.counts == Limiter.Counts(limited: 30, slipped: slipped, dropped: 30 - slipped, evicted: 0))
    }

    @Test("each account keeps its own slip cycle")
    func slipPerAccount() {
        var limiter = Self.limiter(slip: 2)
        _ = limiter.run(20, name: "a.example", at: Self.t0)
        _ = limiter.run(20, name: "b.example", at: Self.t0)
        #expect(limiter.run(1, name: "a.example", at: Self.t0) == [.slip])
        #expect(limiter.run(1, name: "b.example", at: Self.t0) == [.slip])
        #expect(limiter.run(1, name: "a.example", at: Self.t0) == [.drop])
        #expect(limiter.run(1, name: "b.example", at: Self.t0) == [.drop])
    }

    @Test("the slip cycle starts over when the account is full again")
    func slipCycleRestarts() {
        var limiter = Self.limiter(slip: 3)
        _ = limiter.run(20, at: Self.t0)
        #expect(limiter.run(2, at: Self.t0) == [.slip, .drop])  // the cycle is at 2 of 3
        // Two seconds earn 40 for a debt of 2: capped full, cycle reset. Without the reset the
        // next limited response would be the cycle's third, a drop.
        let again = limiter.run(21, at: Self.at(2 * Self.second))
        #expect(again.prefix(20).allSatisfy { $0 == .send })
        #expect(again[20] == .slip)
    }

    // MARK: - What makes an account

    @Test("clients share an account exactly when they share the IPv4 prefix",
          arguments: [
            (24, "198.51.100.1", "198.51.100.200", true),
            (24, "198.51.100.1", "203.0.113.1", false),
            (32, "198.51.100.1", "198.51.100.200", false),
            (25, "198.51.100.1", "198.51.100.100", true),
            (25, "198.51.100.1", "198.51.100.200", false),
            (16, "203.0.113.1", "203.0.113.254", true),
            (0, "198.51.100.1", "203.0.113.1", true),
            (24, "::ffff:198.51.100.1", "198.51.100.200", true),
          ])
    func ipv4Prefixes(length: Int, first: String, second: String, shared: Bool) throws {
        try expectSharing(Self.limiter(v4: length), first, second, shared)
    }

    @Test("clients share an account exactly when they share the IPv6 prefix",
          arguments: [
            (56, "2001:db8:0:100::1", "2001:db8:0:1ff:ffff::2", true),
            (56, "2001:db8:0:100::1", "2001:db8:0:200::1", false),
            (56, "2001:db8:0:100::1", "2001:db8:1:100::1", false),
            (64, "2001:db8:0:100::1", "2001:db8:0:100:ffff::1", true),
            (64, "2001:db8:0:100::1", "2001:db8:0:101::1", false),
            (96, "2001:db8::1:0:1", "2001:db8::1:ffff:ffff", true),
            (96, "2001:db8::1:0:1", "2001:db8::2:0:1", false),
            (128, "2001:db8::1", "2001:db8::2", false),
            (0, "2001:db8::1", "2001:db8:ffff::1", true),
          ])
    func ipv6Prefixes(length: Int, first: String, second: String, shared: Bool) throws {
        try expectSharing(Self.limiter(v6: length), first, second, shared)
    }

    @Test("IPv4 and IPv6 clients never share an account, even with prefixes of 0")
    func familiesApart() throws {
        try expectSharing(Self.limiter(v4: 0, v6: 0), "198.51.100.1", "2001:db8::1", false)
    }

    /// Drains `first`'s account, then asks once for `second`.
    func expectSharing(_ limiter: Limiter, _ first: String, _ second: String, _ shared: Bool,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        var limiter = limiter
        let a = try #require(IPAddress(first))
        let b = try #require(IPAddress(second))
        _ = limiter.run(20, client: a, at: Self.t0)
        #expect(limiter.run(1, client: a, at: Self.t0) != [.send], sourceLocation: sourceLocation)
        #expect((limiter.run(1, client: b, at: Self.t0) != [.send]) == shared, sourceLocation: sourceLocation)
        #expect(limiter.accountCount == (shared ? 1 : 2), sourceLocation: sourceLocation)
    }

    @Test("each kind has its own account for the same client and name")
    func kindsApart() {
        var limiter = Self.limiter()
        _ = limiter.run(20, kind: .answer, at: Self.t0)
        #expect(limiter.run(1, kind: .answer, at: Self.t0) != [.send])
        for kind in [Limiter.Kind.nodata, .refused, .error] {
            let verdicts = limiter.run(21, kind: kind, at: Self.t0)
            #expect(verdicts.prefix(20).allSatisfy { $0 == .send })
            #expect(verdicts[20] != .send)
        }
        #expect(limiter.accountCount == 4)
    }

    @Test("an empty name gives one account per prefix and kind, as BIND's errors-per-second")
    func emptyName() {
        var limiter = Self.limiter()
        _ = limiter.run(20, client: IPAddress("203.0.113.7")!, kind: .refused, name: "", at: Self.t0)
        #expect(limiter.run(1, client: IPAddress("203.0.113.99")!, kind: .refused, name: "", at: Self.t0) != [.send])
        #expect(limiter.run(1, client: IPAddress("203.0.113.99")!, kind: .refused, name: "x", at: Self.t0) == [.send])
    }

    @Test("names differing only in ASCII letter case share an account",
          arguments: ["EVIL.EXAMPLE", "Evil.Example", "evil.example", "eViL.eXaMpLe"])
    func caseFolding(spelling: String) {
        var limiter = Self.limiter()
        _ = limiter.run(20, name: "evil.example", at: Self.t0)
        #expect(limiter.run(1, name: spelling, at: Self.t0) != [.send])
        #expect(limiter.accountCount == 1)
    }

    @Test("different names have different accounts, including bytes that only look alike",
          arguments: [
            ([UInt8]("evil.example".utf8), [UInt8]("evil.exampl".utf8)),
            ([UInt8]("evil.example".utf8), [UInt8]("evil.example.".utf8)),
            ([UInt8]("ab".utf8), [0x61, 0x62, 0x00]),         // zero padding is not a byte
            ([UInt8]("abcdefgh".utf8), [UInt8]("abcdefghi".utf8)),  // across a word boundary
            ([0xC9], [0xE9]),                                 // Latin-1 É/é: not ASCII, not folded
            ([0x40], [0x60]),                                 // '@' and '`' differ by 0x20 too
            ([0x5B], [0x7B]),                                 // '[' and '{'
          ])
    func namesApart(first: [UInt8], second: [UInt8]) {
        var limiter = Self.limiter()
        _ = limiter.run(20, name: first, at: Self.t0)
        #expect(limiter.run(1, name: first, at: Self.t0) != [.send])
        #expect(limiter.run(1, name: second, at: Self.t0) == [.send])
        #expect(limiter.accountCount == 2)
    }

    @Test("wire-form names fold like presentation names")
    func wireForm() {
        var limiter = Self.limiter()
        let lower: [UInt8] = [4] + Array("evil".utf8) + [7] + Array("example".utf8) + [0]
        let upper: [UInt8] = [4] + Array("EVIL".utf8) + [7] + Array("Example".utf8) + [0]
        _ = limiter.run(20, name: lower, at: Self.t0)
        #expect(limiter.run(1, name: upper[...], at: Self.t0) != [.send])
    }

    @Test("a name in contiguous bytes and the same name as any other sequence key one account")
    func contiguousOrNot() {
        var limiter = Self.limiter()
        _ = limiter.run(20, name: AnySequence("Evil.Example".utf8), at: Self.t0)
        #expect(limiter.run(1, name: [UInt8]("EVIL.example".utf8), at: Self.t0) != [.send])
        #expect(limiter.run(1, name: "evil.EXAMPLE", at: Self.t0) != [.send])
        #expect(limiter.accountCount == 1)
    }

    // MARK: - Off

    @Test("a rate of 0 sends everything and keeps no table")
    func off() {
        var limiter = Self.limiter(rate: 0, capacity: 1)
        #expect(!limiter.isEnabled)
        let verdicts = limiter.run(10_000, at: Self.t0)
        #expect(verdicts.allSatisfy { $0 == .send })
        #expect(limiter.counts == Limiter.Counts())
        #expect(limiter.accountCount == 0)
    }

    // MARK: - The table

    @Test("a full table evicts the least recently used account, which comes back full")
    func lruEviction() {
        var limiter = Self.limiter(capacity: 3)
        // a, b, c each drained and limited; then a is used again: LRU order a, c, b.
        for name in ["a", "b", "c"] { _ = limiter.run(21, name: name, at: Self.t0) }
        #expect(limiter.run(1, name: "a", at: Self.t0) != [.send])
        #expect(limiter.counts.evicted == 0)
        // d takes b's place: order d, a, c.
        #expect(limiter.run(1, name: "d", at: Self.t0) == [.send])
        #expect(limiter.counts.evicted == 1)
        // b is new again, full, and takes c's place: order b, d, a.
        #expect(limiter.run(20, name: "b", at: Self.t0).allSatisfy { $0 == .send })
        #expect(limiter.counts.evicted == 2)
        // a was used most recently of the drained ones and is still there, still limited.
        #expect(limiter.run(1, name: "a", at: Self.t0) != [.send])
        #expect(limiter.counts.evicted == 2)
        // c is gone too: full again, taking d's place.
        #expect(limiter.run(20, name: "c", at: Self.t0).allSatisfy { $0 == .send })
        #expect(limiter.counts.evicted == 3)
        #expect(limiter.accountCount == 3)
    }

    @Test("with room for one account, two clients taking turns evict each other and are never limited")
    func capacityOne() {
        var limiter = Self.limiter(capacity: 1)
        let other = IPAddress("203.0.113.1")!
        for _ in 0..<50 {
            #expect(limiter.run(1, at: Self.t0) == [.send])
            #expect(limiter.run(1, client: other, at: Self.t0) == [.send])
        }
        #expect(limiter.counts.evicted == 99)
        #expect(limiter.accountCount == 1)
        // One client alone keeps its account and is limited as usual.
        let alone = limiter.run(25, client: other, at: Self.t0)
        #expect(alone.filter { $0 == .send }.count == 19)  // one already spent above
        #expect(limiter.counts.evicted == 99)
    }

    @Test("under churn through a small table the newest accounts stay and the rest start over",
          arguments: [1, 7, 4096])
    func churn(capacity: Int) {
        // Rate 1: each account's one response empties it, so a second verdict tells whether
        // the account was kept (limited) or evicted (sent again).
        var limiter = Self.limiter(rate: 1, capacity: capacity)
        let names = (0..<(capacity + 3000)).map { "n\($0).example" }
        for name in names { #expect(limiter.run(1, name: name, at: Self.t0) == [.send]) }
        #expect(limiter.accountCount == capacity)
        #expect(limiter.counts.evicted == 3000)
        // Asking for a kept account evicts nothing, whatever the order.
        for name in names.suffix(capacity) {
            #expect(limiter.run(1, name: name, at: Self.t0) != [.send])
        }
        #expect(limiter.counts.evicted == 3000)
        #expect(limiter.run(1, name: names[0], at: Self.t0) == [.send])
        #expect(limiter.counts.evicted == 3001)
    }

    // MARK: - The clock

    @Test("a clock stepping back credits nothing, and credit accrues again from the new reading")
    func clockBackwards() {
        var limiter = Self.limiter()
        let t = 100 * Self.second
        _ = limiter.run(20, at: Self.at(t))  // balance 0
        // Ten seconds back: no credit (and no debit beyond the response's own).
        #expect(limiter.run(1, at: Self.at(t - 10 * Self.second)) != [.send])  // −1
        // Half a second on from the new reading earns 10: 9 responses.
        let later = limiter.run(10, at: Self.at(t - 10 * Self.second + Self.second / 2))
        #expect(later.filter { $0 == .send }.count == 9)
        #expect(later.prefix(9).allSatisfy { $0 == .send })
    }

    @Test("readings at the ends of the clock's range neither trap nor credit backwards")
    func extremeClock() {
        var limiter = Self.limiter()
        _ = limiter.run(21, at: UTCTime(microseconds: .min))
        // The gap overflows Int64: treated as longer than the window, so full again.
        #expect(limiter.run(21, at: UTCTime(microseconds: .max)).filter { $0 == .send }.count == 20)
        #expect(limiter.run(1, at: UTCTime(microseconds: .min)) != [.send])
    }

    // MARK: - Settings

    @Test("settings outside BIND's ranges are refused as a programmer error")
    func invalidSettings() async {
        await #expect(processExitsWith: .failure) {
            _ = ResponseRateLimiter(.init(window: 0))
        }
        await #expect(processExitsWith: .failure) {
            _ = ResponseRateLimiter(.init(slip: 11))
        }
        await #expect(processExitsWith: .failure) {
            _ = ResponseRateLimiter(.init(ipv4PrefixLength: 33))
        }
        await #expect(processExitsWith: .failure) {
            _ = ResponseRateLimiter(.init(capacity: 0))
        }
    }
}

extension ResponseRateLimiter {
    /// `count` verdicts for one account, all at `time`.
    mutating func run(
        _ count: Int, client: IPAddress = ResponseRateLimiterTests.client, kind: Kind = .answer,
        name: some Sequence<UInt8> = "evil.example".utf8, at time: UTCTime
    ) -> [Verdict] {
        (0..<count).map { _ in verdict(client: client, kind: kind, name: name, now: time) }
    }

    mutating func run(
        _ count: Int, client: IPAddress = ResponseRateLimiterTests.client, kind: Kind = .answer,
        name: String, at time: UTCTime
    ) -> [Verdict] {
        run(count, client: client, kind: kind, name: name.utf8, at: time)
    }

    /// One verdict for the default client and name.
    mutating func verdict(at time: UTCTime) -> Verdict {
        verdict(client: ResponseRateLimiterTests.client, kind: .answer, name: "evil.example".utf8, now: time)
    }
}
