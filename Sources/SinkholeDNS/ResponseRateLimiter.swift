import SinkholeCore

/// Decides for each UDP response whether to send it, send it truncated ("slip") or drop it,
/// with the semantics of BIND 9's Response Rate Limiting (ARM "Response Rate Limiting",
/// `lib/dns/rrl.c`).
///
/// A sinkhole answers every seized name, so anyone can point it at a victim: spoofed queries
/// turn it into a reflector. RRL bounds how many identical responses one client prefix gets,
/// and slipping a TC=1 reply now and then lets a real resolver behind a spoofed address retry
/// over TCP (RFC 7766), which cannot be spoofed. TCP responses are not limited (BIND does not
/// limit them either): callers consult the limiter for UDP only.
///
/// **Accounts.** One per (client prefix, `Kind`, name): the client address masked to
/// `ipv4PrefixLength` or `ipv6PrefixLength` (an IPv4-mapped IPv6 address counts as the IPv4
/// address), the kind, and the name with ASCII letters folded to lowercase (RFC 4343). The
/// limiter keys on the bytes it is given; choosing them is the caller's job. BIND keys errors
/// on the prefix alone (`errors-per-second`); to match, a caller passes an empty name for
/// `.refused` and `.error`, which gives one account per prefix and kind.
///
/// **Token bucket.** An account holds a balance of responses. It is credited
/// `responsesPerSecond` per second elapsed since the account's last verdict, never above
/// `+responsesPerSecond`; each verdict debits 1, and the response is sent when the balance is
/// still ≥ 0 *after* the debit (BIND: `if (--e->responses >= 0)`). A limited response is
/// debited too, and the balance is then floored at `−window × responsesPerSecond`. So a client
/// that keeps asking faster than the rate stays limited for as long as it does, and once quiet
/// it needs its debt divided by the rate — at most `window` seconds — before a response is
/// sent again: the average over the window must fall under the rate (ARM: "responses are
/// tracked within a rolling window of time"). A new account starts full, and an account idle
/// for more than `window` seconds is full again (BIND: "entries older than the window are
/// treated as if they were just created").
///
/// Where this differs from BIND, on purpose:
/// - Credit accrues per microsecond of `UTCTime`, not per whole second of a seconds clock.
///   Balances are integers in millionths of a response, so the arithmetic is exact and the
///   long-run rate is the same; but BIND credits a whole second's worth at each tick of its
///   clock, which lets a client get `2 × rate` responses across a tick, while here any
///   interval of `t` seconds admits at most `rate + rate × t`.
/// - A clock that goes backwards credits nothing, and the account measures from the new
///   reading (BIND treats a step of up to 5 s back the same way, and a longer one as "forever",
///   refilling the account; here no step back refills anything).
/// - The table is strict LRU with a fixed capacity (BIND's `max-table-size`, default 20 000,
///   grows towards it and, when it must evict, walks past accounts that are being limited).
///   Here eviction is O(1) and takes the least recently used account whatever its balance;
///   an evicted account comes back full. That matters only when more than `capacity` other
///   accounts are touched between two queries of a flood, and `counts.evicted` shows it.
///
/// **Table.** Allocated once in `init` and never grown (per unit of capacity a 56-byte account
/// and two to four 4-byte buckets): accounts in one array, an index-linked LRU list through
/// them, and a power-of-two bucket array with index-linked chains at load ≤ ½. Each account stores its masked address and kind exactly,
/// plus a 64-bit hash of the whole key (name included) from the standard library's `Hasher`,
/// which is seeded per process, so a client cannot choose names that collide or that pile up
/// in one bucket. Two accounts can therefore be confused only when two names of the *same*
/// prefix and kind share all 64 hash bits (about 2⁻⁶⁴ per pair; BIND keeps a 32-bit unseeded
/// name hash and calls such collisions "rare and benign"), never across clients. Storing the
/// names themselves would cost up to 255 bytes an account for no practical gain. A verdict
/// is O(1) expected and allocates nothing (heaptrack: no more allocations for 101 000
/// verdicts than for 1 000, in a debug build).
///
/// Not `Sendable`: one limiter per event loop, mutated in place by the one handler that owns
/// it, with no lock. A copy is an independent limiter (its first mutation copies the table).
public struct ResponseRateLimiter {
    /// The limiter's knobs, named and bounded as BIND's `rate-limit` options.
    public struct Settings: Sendable, Equatable {
        /// Responses per second per account (BIND `responses-per-second`); 0 turns limiting off.
        public var responsesPerSecond: Int
        /// Seconds over which the rate is averaged (BIND `window`): the deepest debt is
        /// `window × responsesPerSecond`.
        public var window: Int
        /// The first limited response of an account, and every `slip`-th after it, is a
        /// `.slip` (BIND `slip`); 0 drops every limited response, 1 slips every one.
        public var slip: Int
        /// Clients are grouped into accounts by these prefix lengths (BIND
        /// `ipv4-prefix-length`, `ipv6-prefix-length`).
        public var ipv4PrefixLength: Int
        public var ipv6PrefixLength: Int
        /// The most accounts held at once; the least recently used is evicted beyond it.
        public var capacity: Int

        /// The ranges `ResponseRateLimiter.init` accepts. Window and slip are BIND's; the rate
        /// goes past BIND's 1000 to what the configuration accepts, still exact in 64 bits.
        public static let responsesPerSecondRange = 0...1_000_000
        public static let windowRange = 1...3600
        public static let slipRange = 0...10
        public static let ipv4PrefixLengthRange = 0...32
        public static let ipv6PrefixLengthRange = 0...128
        public static let capacityRange = 1...(1 << 24)

        /// 65 536 accounts, about 4 MiB: room for every /24 and name that a busy sinkhole's
        /// resolvers send within a window, several times over BIND's default 20 000.
        public static let defaultCapacity = 65_536

        public init(
            responsesPerSecond: Int = 20, window: Int = 15, slip: Int = 2,
            ipv4PrefixLength: Int = 24, ipv6PrefixLength: Int = 56,
            capacity: Int = Settings.defaultCapacity
        ) {
            self.responsesPerSecond = responsesPerSecond
            self.window = window
            self.slip = slip
            self.ipv4PrefixLength = ipv4PrefixLength
            self.ipv6PrefixLength = ipv6PrefixLength
            self.capacity = capacity
        }
    }

    /// What the response is, as BIND classifies it for its separate per-kind accounts.
    public enum Kind: UInt8, Sendable {
        /// A positive answer (BIND `responses-per-second`).
        case answer
        /// NOERROR with no answer (BIND `nodata-per-second`).
        case nodata
        /// REFUSED, for a name the sinkhole does not hold.
        case refused
        /// Any other error: FORMERR, NOTIMP, BADVERS (BIND `errors-per-second`).
        case error
    }

    /// What to do with the response.
    public enum Verdict: Sendable, Equatable {
        /// Send it as built.
        case send
        /// Send a truncated reply (TC=1, no records) instead, so a real client retries over TCP.
        case slip
        /// Send nothing.
        case drop
    }

    /// Running totals for metrics; they only grow.
    public struct Counts: Sendable, Hashable {
        /// Responses not sent as built: `slipped + dropped`.
        public var limited: Int
        public var slipped: Int
        public var dropped: Int
        /// Accounts discarded to make room for a new one.
        public var evicted: Int

        public init(limited: Int = 0, slipped: Int = 0, dropped: Int = 0, evicted: Int = 0) {
            self.limited = limited
            self.slipped = slipped
            self.dropped = dropped
            self.evicted = evicted
        }
    }

    public private(set) var counts = Counts()
    public let settings: Settings
    /// False when `responsesPerSecond` is 0: every verdict is `.send` and no table exists.
    public var isEnabled: Bool { settings.responsesPerSecond > 0 }
    /// Accounts in the table now (at most `settings.capacity`).
    public var accountCount: Int { Int(used) }

    /// One response in the balances' unit: balances count millionths of a response so that
    /// a credit of `rate` per microsecond is exact.
    static let response: Int64 = 1_000_000

    // Derived once from the settings.
    let rate: Int64
    let full: Int64
    /// The deepest debt: `−window × rate` responses.
    let lowest: Int64
    let windowMicroseconds: Int64
    let ipv4Mask: UInt64
    let ipv6HighMask: UInt64
    let ipv6LowMask: UInt64

    // The table; `nil` links are -1.
    var accounts: [Account]
    var buckets: [Int32]
    let bucketMask: UInt64
    var used: Int32 = 0
    /// Most and least recently used accounts.
    var newest: Int32 = -1
    var oldest: Int32 = -1

    struct Account {
        var hash: UInt64
        var high: UInt64
        var low: UInt64
        var balance: Int64
        /// The `UTCTime` microseconds of the account's last verdict.
        var lastSeen: Int64
        var newer: Int32
        var older: Int32
        var chain: Int32
        /// `Kind.rawValue`, with 0x80 set for an IPv6 prefix.
        var tag: UInt8
        var slipCount: UInt8
    }

    /// Builds the limiter and, when enabled, its whole table.
    ///
    /// Settings outside the `Settings` ranges are a programmer error: the configuration
    /// validates them first.
    public init(_ settings: Settings) {
        precondition(Settings.responsesPerSecondRange.contains(settings.responsesPerSecond), "RRL rate out of range")
        precondition(Settings.windowRange.contains(settings.window), "RRL window out of range")
        precondition(Settings.slipRange.contains(settings.slip), "RRL slip out of range")
        precondition(Settings.ipv4PrefixLengthRange.contains(settings.ipv4PrefixLength), "RRL IPv4 prefix out of range")
        precondition(Settings.ipv6PrefixLengthRange.contains(settings.ipv6PrefixLength), "RRL IPv6 prefix out of range")
        precondition(Settings.capacityRange.contains(settings.capacity), "RRL capacity out of range")
        self.settings = settings
        rate = Int64(settings.responsesPerSecond)
        full = rate * Self.response
        lowest = -Int64(settings.window) * rate * Self.response
        windowMicroseconds = Int64(settings.window) * 1_000_000
        ipv4Mask = Self.mask(settings.ipv4PrefixLength, within: 32)
        ipv6HighMask = Self.mask(settings.ipv6PrefixLength, within: 64)
        ipv6LowMask = Self.mask(settings.ipv6PrefixLength - 64, within: 64)
        guard settings.responsesPerSecond > 0 else {
            accounts = []
            buckets = []
            bucketMask = 0
            return
        }
        let blank = Account(hash: 0, high: 0, low: 0, balance: 0, lastSeen: 0,
                            newer: -1, older: -1, chain: -1, tag: 0, slipCount: 0)
        accounts = Array(repeating: blank, count: settings.capacity)
        // Twice the capacity, rounded up to a power of two: chains average under one account.
        let bucketCount = 1 << (Int.bitWidth - (2 * settings.capacity - 1).leadingZeroBitCount)
        buckets = Array(repeating: -1, count: bucketCount)
        bucketMask = UInt64(bucketCount - 1)
    }

    /// A `width`-bit word (32 or 64, in the low bits) with its top `length` bits set;
    /// `length` ≤ 0 gives 0, ≥ `width` all ones.
    static func mask(_ length: Int, within width: Int) -> UInt64 {
        let length = min(length, width)
        guard length > 0 else { return 0 }
        return (~UInt64(0) << UInt64(64 - length)) >> UInt64(64 - width)
    }

    /// Debits the account of (`client`'s prefix, `kind`, `name`) for one response and says
    /// what to do with it.
    ///
    /// - Parameters:
    ///   - name: the account's name in wire or presentation bytes (the caller picks one form
    ///     and keeps to it); ASCII case is folded by the limiter. Wire-form length bytes are
    ///     at most 63, so they are never mistaken for letters.
    ///   - now: the time of the query; injected so tests need no clock.
    @inlinable
    public mutating func verdict(client: IPAddress, kind: Kind, name: some Sequence<UInt8>, now: UTCTime) -> Verdict {
        guard isEnabled else { return .send }
        // Contiguous bytes (arrays, ByteBuffer views, native strings' UTF-8) are hashed by
        // concrete code: a byte loop through a generic iterator is only allocation-free once
        // specialised, which unoptimised builds never do.
        let hasher = name.withContiguousStorageIfAvailable(Self.nameHasher(contiguous:))
            ?? Self.nameHasher(name)
        return verdict(client: client, kind: kind, nameHasher: hasher, now: now)
    }

    @usableFromInline
    static func nameHasher(contiguous bytes: UnsafeBufferPointer<UInt8>) -> Hasher {
        var folder = NameFolder()
        for byte in bytes { folder.add(byte) }
        return folder.hasher
    }

    @inlinable
    static func nameHasher(_ bytes: some Sequence<UInt8>) -> Hasher {
        var folder = NameFolder()
        for byte in bytes { folder.add(byte) }
        return folder.hasher
    }

    /// Feeds a name to a `Hasher` eight bytes at a time, ASCII letters folded to lowercase.
    @usableFromInline
    struct NameFolder {
        @usableFromInline var state = Hasher()
        @usableFromInline var word: UInt64 = 0
        @usableFromInline var shift: UInt64 = 0
        @usableFromInline var count = 0

        @inlinable init() {}

        @inlinable
        mutating func add(_ byte: UInt8) {
            // RFC 4343 §3: DNS compares ASCII letters without case, and nothing else.
            let folded = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
            word |= UInt64(folded) &<< shift
            shift &+= 8
            count &+= 1
            if shift == 64 {
                state.combine(word)
                word = 0
                shift = 0
            }
        }

        /// The state after the last partial word and the length, so that names that differ
        /// only by trailing zero bytes hash apart.
        @inlinable
        var hasher: Hasher {
            var final = state
            final.combine(word)
            final.combine(count)
            return final
        }
    }

    @usableFromInline
    mutating func verdict(client: IPAddress, kind: Kind, nameHasher: Hasher, now: UTCTime) -> Verdict {
        // An IPv4 client on a dual-stack socket may arrive as ::ffff:a.b.c.d; masked to an IPv6
        // prefix it would share one account with every IPv4 client.
        let address = client.unmappingIPv4
        let high: UInt64
        let low: UInt64
        let tag: UInt8
        switch address.family {
        case .v4:
            high = 0
            low = address.low & ipv4Mask
            tag = kind.rawValue
        case .v6:
            high = address.high & ipv6HighMask
            low = address.low & ipv6LowMask
            tag = kind.rawValue | 0x80
        }
        var hasher = nameHasher
        hasher.combine(tag)
        hasher.combine(high)
        hasher.combine(low)
        let hash = UInt64(UInt(bitPattern: hasher.finalize()))
        let time = now.microseconds
        let bucket = Int(hash & bucketMask)

        var index = buckets[bucket]
        while index >= 0 {
            let account = accounts[Int(index)]
            if account.hash == hash, account.high == high, account.low == low, account.tag == tag { break }
            index = account.chain
        }
        if index >= 0 {
            makeNewest(index)
            credit(index, at: time)
        } else {
            index = claim()
            accounts[Int(index)] = Account(
                hash: hash, high: high, low: low, balance: full, lastSeen: time,
                newer: -1, older: -1, chain: buckets[bucket], tag: tag, slipCount: 0
            )
            buckets[bucket] = index
            linkNewest(index)
        }
        return debit(index)
    }

    /// Credits the time since the account's last verdict, as BIND's `debit_rrl_entry` does
    /// before it debits.
    mutating func credit(_ index: Int32, at time: Int64) {
        let i = Int(index)
        let last = accounts[i].lastSeen
        // BIND's set_age: the account measures from this verdict on, also when the clock
        // went back (then nothing is credited).
        accounts[i].lastSeen = time
        guard time > last else { return }
        let (elapsed, overflow) = time.subtractingReportingOverflow(last)
        if overflow || elapsed > windowMicroseconds {
            // Idle longer than the window: as good as new, slip cycle restarted.
            accounts[i].balance = full
            accounts[i].slipCount = 0
            return
        }
        // elapsed ≤ 3.6e9 µs and rate ≤ 1e6, so the product is below 2⁵².
        let balance = accounts[i].balance + elapsed * rate
        if balance > full {
            accounts[i].balance = full
            accounts[i].slipCount = 0
        } else {
            accounts[i].balance = balance
        }
    }

    /// Debits one response: sent while the balance is ≥ 0 after the debit (BIND's rule);
    /// otherwise limited, the debt floored at the window, and the slip cycle decides.
    mutating func debit(_ index: Int32) -> Verdict {
        let i = Int(index)
        let balance = accounts[i].balance - Self.response
        guard balance < 0 else {
            accounts[i].balance = balance
            return .send
        }
        accounts[i].balance = max(balance, lowest)
        counts.limited += 1
        if settings.slip != 0 {
            // BIND: the first limited response slips, then every `slip`-th one; a slip
            // counter that reaches `slip` starts over.
            let previous = accounts[i].slipCount
            let next = previous + 1
            accounts[i].slipCount = Int(next) >= settings.slip ? 0 : next
            if previous == 0 {
                counts.slipped += 1
                return .slip
            }
        }
        counts.dropped += 1
        return .drop
    }
}

// MARK: - The table's lists

extension ResponseRateLimiter {
    /// An unused account, or else the least recently used one, unlinked from its chain and
    /// from the LRU list.
    mutating func claim() -> Int32 {
        if Int(used) < accounts.count {
            used += 1
            return used - 1
        }
        let victim = oldest
        unlinkLRU(victim)
        let bucket = Int(accounts[Int(victim)].hash & bucketMask)
        // Every account in use is in exactly one chain, its own hash's, so this walk ends.
        if buckets[bucket] == victim {
            buckets[bucket] = accounts[Int(victim)].chain
        } else {
            var previous = buckets[bucket]
            while accounts[Int(previous)].chain != victim { previous = accounts[Int(previous)].chain }
            accounts[Int(previous)].chain = accounts[Int(victim)].chain
        }
        counts.evicted += 1
        return victim
    }

    mutating func makeNewest(_ index: Int32) {
        guard newest != index else { return }
        unlinkLRU(index)
        linkNewest(index)
    }

    mutating func linkNewest(_ index: Int32) {
        accounts[Int(index)].newer = -1
        accounts[Int(index)].older = newest
        if newest >= 0 { accounts[Int(newest)].newer = index }
        newest = index
        if oldest < 0 { oldest = index }
    }

    mutating func unlinkLRU(_ index: Int32) {
        let newer = accounts[Int(index)].newer
        let older = accounts[Int(index)].older
        if newer >= 0 { accounts[Int(newer)].older = older } else { newest = older }
        if older >= 0 { accounts[Int(older)].newer = newer } else { oldest = newer }
    }
}
