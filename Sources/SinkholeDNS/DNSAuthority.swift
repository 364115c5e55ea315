import SinkholeCore

/// What the sinkhole says about itself as the authority for every seized zone: the NS names
/// and the SOA fields (RFC 1035 §3.3.11, §3.3.13).
///
/// Every seized name is the apex of a zone the sinkhole serves, and all of them share this
/// one authority. The names identify the sinkhole (`dns.nameservers` in the configuration),
/// so a researcher or an ISP looking at a seized domain's NS or SOA sees whose server it is.
public struct DNSAuthority: Hashable, Sendable {
    /// The nameserver used when the configuration names none. `.invalid` can never resolve
    /// (RFC 6761 §6.4), so it points nobody at somebody else's host.
    public static let defaultNameserver = "ns.sinkhole.invalid"

    /// The SOA timers. There are no secondaries to refresh, but resolvers and zone checkers
    /// read them; these sit inside the ranges RFC 1912 §2.2 recommends.
    public static let defaultRefresh: UInt32 = 14_400
    public static let defaultRetry: UInt32 = 3_600
    public static let defaultExpire: UInt32 = 1_209_600

    /// The apex NS names, in order; the first is the SOA's MNAME. Never empty.
    public var nameservers: [DNSName]
    /// The SOA's RNAME: the contact mailbox with its `@` as the first dot (RFC 1035 §8).
    public var mailbox: DNSName
    /// The SOA serial: when the domain lists were loaded, in seconds since the epoch.
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    /// The SOA MINIMUM, which is the negative-caching TTL (RFC 2308 §4); nil means the
    /// responder's answer TTL.
    public var negativeTTL: UInt32?

    /// - Parameters:
    ///   - nameservers: host names, trailing dot optional; names that are not valid DNS names
    ///     are left out, and if none is left `defaultNameserver` is used.
    ///   - mailbox: the contact, `user@domain` or already in RNAME form (`user.domain`);
    ///     nil or invalid gives `hostmaster.<first nameserver>`.
    ///   - serial: usually `DNSAuthority.serial(loadedAt:)` of the lists' load time.
    public init(
        nameservers: [String] = [], mailbox: String? = nil, serial: UInt32 = 0,
        negativeTTL: UInt32? = nil, refresh: UInt32 = DNSAuthority.defaultRefresh,
        retry: UInt32 = DNSAuthority.defaultRetry, expire: UInt32 = DNSAuthority.defaultExpire
    ) {
        var names = nameservers.compactMap { DNSName(presentation: $0) }.filter { !$0.isRoot }
        if names.isEmpty, let fallback = DNSName(presentation: Self.defaultNameserver) {
            names = [fallback]
        }
        // Not empty: `defaultNameserver` is a valid name, checked by the tests.
        self.nameservers = names.isEmpty ? [.root] : names
        self.mailbox = mailbox.flatMap(Self.rname(fromMailbox:)) ?? Self.hostmaster(of: self.nameservers[0])
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.negativeTTL = negativeTTL
    }

    /// A serial from a load time: seconds since the epoch, wrapping as serial arithmetic does
    /// (RFC 1982), so it keeps increasing across reloads until 2106 and compares correctly
    /// after that.
    public static func serial(loadedAt time: UTCTime) -> UInt32 {
        UInt32(truncatingIfNeeded: time.seconds)
    }

    /// The SOA RDATA, with MINIMUM the negative TTL or, if none was set, `answerTTL`.
    public func soa(answerTTL: UInt32) -> DNSSOA {
        DNSSOA(
            primary: nameservers[0], mailbox: mailbox, serial: serial, refresh: refresh,
            retry: retry, expire: expire, minimum: negativeTTL ?? answerTTL
        )
    }

    /// `user@example.org` → the name `user.example.org` with `user` as one label (a dot in
    /// the local part stays inside that label, RFC 1035 §8); text without `@` is taken as an
    /// RNAME already.
    static func rname(fromMailbox text: String) -> DNSName? {
        guard let at = text.utf8.firstIndex(of: UInt8(ascii: "@")) else {
            return DNSName(presentation: text).flatMap { $0.isRoot ? nil : $0 }
        }
        let local = text.utf8[..<at]
        guard let domain = DNSName(presentation: text[text.utf8.index(after: at)...]), !domain.isRoot else {
            return nil
        }
        return DNSName(labels: [Array(local)] + domain.labels.map(Array.init))
    }

    /// `hostmaster.<name>` (RFC 2142 §7), or `hostmaster.sinkhole.invalid` when that is too long.
    static func hostmaster(of name: DNSName) -> DNSName {
        let label = Array("hostmaster".utf8)
        return DNSName(labels: [label] + name.labels.map(Array.init))
            ?? DNSName(labels: [label, Array("sinkhole".utf8), Array("invalid".utf8)])
            ?? name
    }
}
