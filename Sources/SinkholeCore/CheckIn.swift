/// One bot check-in as the sinkhole saw it: the event every responder and the capture engine
/// produce, copied whole into an `EventRing` slot.
///
/// It is a fixed-size value with no references, so a producer fills it on its stack and the
/// ring copies it without allocating. Text detail is held in `BoundedBytes` fields whose sizes
/// are the documented constants in `CheckIn.Limits`.
///
/// RFC 6302: every check-in carries the source port and the UTC time to the microsecond, so an
/// ISP behind carrier-grade NAT can find the subscriber behind a shared public address.
///
/// The slot is 1776 bytes (`MemoryLayout<CheckIn>.stride`, logged at start; 368 before the
/// HTTP detail, 1680 before the TLS detail, the catch-all fields and the request index), tested
/// to stay under 1.75 KiB: most of it is the HTTP detail, bounded to keep what an analyst needs
/// from a bot's request. 64 MiB of rings hold about 37,000 events.
public struct CheckIn: BitwiseCopyable, Sendable {
    /// Sizes of the bounded detail fields, in bytes.
    public enum Limits {
        /// A DNS name in text form is at most 253 characters plus dots; 255 covers any
        /// presentation of a valid name.
        public static let name = 255
        /// Family names are short identifiers from the configuration (`rustock`).
        public static let family = 32
        /// HTTP method: every registered method fits in 16 bytes (the longest,
        /// `VERSION-CONTROL`, is 15); odd longer tokens are kept cut.
        public static let httpMethod = 16
        /// HTTP request target (path with query) as received. Bots often carry their
        /// check-in data in the query; 512 bytes keeps the useful part of nearly all of them
        /// without tripling the slot for the few that send kilobytes.
        public static let httpPath = 512
        /// HTTP `User-Agent`, as received (malware often sends a fixed or odd one).
        public static let httpUserAgent = 256
        /// HTTP `Referer`, as received.
        public static let httpReferer = 256
        /// HTTP `X-Forwarded-For`, as received: a few addresses of a proxy chain.
        public static let httpForwardedFor = 128
        /// The first bytes of a connection that did not speak the expected protocol (a TLS
        /// hello, an SSH banner, an HTTP/2 preface on the HTTP port), enough to tell which.
        public static let firstBytes = 64
        /// A SHA-256 digest.
        public static let digest = 32
        /// The TLS SNI, kept apart from `name` (which holds the inner request's Host). DGA and
        /// C&C names are far shorter than 64 bytes; a longer SNI is kept cut and marked, and
        /// 255 bytes would have grown every slot of every ring by a sixth for it.
        public static let tlsServerName = 64
    }

    /// The transport the check-in arrived on.
    public enum Transport: UInt8, Sendable, BitwiseCopyable, CaseIterable {
        case udp = 17
        case tcp = 6
        case icmp = 1

        public var name: String {
            switch self {
            case .udp: "udp"
            case .tcp: "tcp"
            case .icmp: "icmp"
            }
        }
    }

    /// Which part of the sinkhole saw it.
    public enum Service: UInt8, Sendable, BitwiseCopyable, CaseIterable {
        case dns = 1
        case http = 2
        case tls = 3
        case tcp = 4
        case udp = 5
        case packet = 6

        public var name: String {
            switch self {
            case .dns: "dns"
            case .http: "http"
            case .tls: "tls"
            case .tcp: "tcp"
            case .udp: "udp"
            case .packet: "packet"
            }
        }

        public init?(name: String) {
            guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = match
        }
    }

    /// When the check-in happened: UTC wall-clock time.
    public var time: UTCTime
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    public var transport: Transport
    public var service: Service
    /// The seized botnet family the check-in belongs to; empty when nothing identified it.
    public var family: BoundedBytes<32>
    /// The name the bot asked for: the DNS qname (as received, letter case kept), the HTTP
    /// Host (also of a request inside TLS), or the TLS SNI when there was no Host (a hello
    /// with no request after it). The SNI is in `tlsServerName` as well: exports want the
    /// Host and the SNI apart, and a bot may send two different names.
    public var name: BoundedBytes<255>
    /// DNS: the query type, or 0 when the question could not be read.
    public var dnsType: UInt16
    /// DNS: the response code the sinkhole answered with (`DNSRcode` raw value), or
    /// `CheckIn.noResponse` when it sent nothing.
    public var dnsRcode: UInt8

    /// DNS over UDP: response rate limiting held the reply back (dropped it, or sent it
    /// truncated so the client retries over TCP). The query is logged all the same.
    public var rateLimited: Bool

    /// HTTP: the request method, as received.
    public var httpMethod: BoundedBytes<16>
    /// HTTP: the request target (path with query), as received.
    public var httpPath: BoundedBytes<512>
    public var httpUserAgent: BoundedBytes<256>
    public var httpReferer: BoundedBytes<256>
    public var httpForwardedFor: BoundedBytes<128>
    /// HTTP: the protocol version as `major * 10 + minor` (10, 11); 0 when unknown.
    public var httpVersion: UInt8
    /// HTTP: the status the sinkhole answered with (a limit's 4xx included); 0 when it
    /// sent no response.
    public var httpStatus: UInt16
    /// HTTP: header fields in the request (trailers not included), saturating.
    public var httpHeaderCount: UInt16
    /// HTTP: the `Content-Length` the request declared, or -1 when it declared none.
    public var httpContentLength: Int64
    /// HTTP: body bytes read, discarded ones included (a body over the limit is read up to
    /// a cap before the 413).
    public var httpBodyBytes: Int64
    /// HTTP: SHA-256 of the first bytes of the body (how many is configured); empty when
    /// the request had no body.
    public var httpBodyDigest: BoundedBytes<32>
    /// Raw first bytes of a connection that did not speak the listener's protocol, or of
    /// what reached a catch-all listener (a TCP connection's first read, a UDP datagram).
    public var firstBytes: BoundedBytes<64>

    // MARK: Catch-all
    // `destination`/`destinationPort` are what the bot dialled, recovered from the kernel when
    // an nftables redirect (SO_ORIGINAL_DST) or tproxy (IP_RECVORIGDSTADDR) brought it to a
    // catch-all listener: that is the evidence. These say which listener took it.

    /// The port of the catch-all listener that took the check-in; 0 for every other service.
    public var listenerPort: UInt16
    /// The kernel reported an original destination other than the listener's own address and
    /// port: the packet was redirected (or tproxied) here from the port the bot dialled.
    public var redirected: Bool

    // MARK: Request sequence (issue 4: one check-in row per HTTP request)
    // Kept as one block at the end: other fields of later issues go after it, and the slot
    // stays within its 1.75 KiB bound (4 bytes here).

    /// Which request of its connection this check-in is: 0 for the first (and for every
    /// event that is not a request: a capture engine's packet, a `tcp` check-in), n for the
    /// (n+1)th request on a keep-alive connection. Part of the deduplicator's session key, so
    /// each request is its own row while the connection's packets fold into its first.
    public var requestIndex: UInt32

    // TLS: the client's hello as the sinkhole read it (even when the handshake then failed)
    // and what the handshake settled on. 74 bytes of the slot, most of them the SNI.
    /// TLS: the SNI (RFC 6066 `host_name`), as received; empty when the client sent none.
    public var tlsServerName: BoundedBytes<64>
    /// TLS: the highest version the hello offered (`supported_versions`, else
    /// `legacy_version`; 0x0304 is TLS 1.3); 0 when not TLS.
    public var tlsOfferedVersion: UInt16
    /// TLS: the client's preferred cipher suite (the first it offered, GREASE and signalling
    /// values left out), by IANA code point.
    public var tlsOfferedCipher: UInt16
    /// TLS: how many cipher suites the hello offered (GREASE and signalling values left
    /// out), saturating at 255.
    public var tlsOfferedCipherCount: UInt8
    /// TLS: the handshake completed (false when it failed or the client left mid-way).
    public var tlsCompleted: Bool
    /// TLS: the version and cipher suite the sinkhole's hello chose; 0 when it sent none.
    public var tlsVersion: UInt16
    public var tlsCipher: UInt16

    // MARK: Capture
    // What the capture engine read off the wire (service `packet`, or a row a packet event
    // opened): 3 bytes, kept last so the fields above keep their offsets.

    /// TCP: the flags of the packet (`TCPFlags`); a session's row holds every flag its
    /// packets carried (SYN alone: a scan or a bot that never completed the handshake).
    public var tcpFlags: UInt8
    /// ICMP/ICMPv6: the message type (8 or 128 for an echo request) and code.
    public var icmpType: UInt8
    public var icmpCode: UInt8

    /// `dnsRcode` when no response was sent (a packet too short to answer, or QR set).
    public static let noResponse: UInt8 = 0xff

    /// A value with nothing in it: what ring slots hold before their first event, and where a
    /// producer builds one it has no slot for.
    public static let empty = CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                      destination: .zero, destinationPort: 0, transport: .udp, service: .dns)

    public init(
        time: UTCTime,
        source: IPAddress, sourcePort: UInt16,
        destination: IPAddress, destinationPort: UInt16,
        transport: Transport, service: Service
    ) {
        self.time = time
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.transport = transport
        self.service = service
        family = BoundedBytes()
        name = BoundedBytes()
        dnsType = 0
        dnsRcode = 0
        rateLimited = false
        httpMethod = BoundedBytes()
        httpPath = BoundedBytes()
        httpUserAgent = BoundedBytes()
        httpReferer = BoundedBytes()
        httpForwardedFor = BoundedBytes()
        httpVersion = 0
        httpStatus = 0
        httpHeaderCount = 0
        httpContentLength = -1
        httpBodyBytes = 0
        httpBodyDigest = BoundedBytes()
        firstBytes = BoundedBytes()
        listenerPort = 0
        redirected = false
        requestIndex = 0
        tlsServerName = BoundedBytes()
        tlsOfferedVersion = 0
        tlsOfferedCipher = 0
        tlsOfferedCipherCount = 0
        tlsCompleted = false
        tlsVersion = 0
        tlsCipher = 0
        tcpFlags = 0
        icmpType = 0
        icmpCode = 0
    }
}
