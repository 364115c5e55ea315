import SinkholeCore
import SinkholeHTTP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything `sinkhole.yaml` can say, with the defaults DESIGN.md documents.
///
/// Plain `Sendable` values (the Hummingbird precedent): services take the section they need and
/// never see the YAML. `SinkholeConfiguration()` is the configuration of an empty file.
/// Loading and validation live in `Configuration+YAML.swift` and `Configuration+Validation.swift`.
public struct SinkholeConfiguration: Sendable, Equatable {
    /// Stamped on every stored row and in export file names; defaults to the host name.
    public var node: String
    /// The account to become after binding the listeners and opening capture, when started as
    /// root (hosts without systemd's `User=`); nil keeps the account the sinkhole started as.
    public var user: String? = nil
    /// The group to become; nil means the user's primary group.
    public var group: String? = nil
    /// What A/AAAA answers for seized names point to.
    public var sinkholeAddresses: [IPAddress]
    /// The seized botnets.
    public var families: [Family]
    public var dns: DNS
    public var http: HTTP
    public var catchAll: CatchAll
    public var capture: Capture
    public var ring: Ring
    public var writer: Writer
    public var store: Store
    public var feeds: Feeds
    public var metrics: Metrics

    public init(
        node: String = SinkholeConfiguration.hostName(),
        sinkholeAddresses: [IPAddress] = [],
        families: [Family] = [],
        dns: DNS = DNS(), http: HTTP = HTTP(), catchAll: CatchAll = CatchAll(),
        capture: Capture = Capture(), ring: Ring = Ring(), writer: Writer = Writer(),
        store: Store = Store(), feeds: Feeds = Feeds(), metrics: Metrics = Metrics()
    ) {
        self.node = node
        self.sinkholeAddresses = sinkholeAddresses
        self.families = families
        self.dns = dns
        self.http = http
        self.catchAll = catchAll
        self.capture = capture
        self.ring = ring
        self.writer = writer
        self.store = store
        self.feeds = feeds
        self.metrics = metrics
    }

    /// One seized botnet: where its names come from and which seized C&C addresses it owns.
    public struct Family: Sendable, Equatable {
        /// `[a-z0-9][a-z0-9_-]*`, at most `CheckIn.Limits.family` bytes: it is stored in every
        /// check-in slot and used in file names.
        public var name: String
        /// Domain list files, one name a line. A path may contain `%Y`, `%m`, `%d` (UTC date)
        /// for DGA families that publish a list a day.
        public var domains: [String]
        /// Seized C&C addresses now routed to this host.
        public var addresses: [IPAddress]
        /// This family's own answer addresses; nil means the global `sinkholeAddresses`.
        public var sinkholeAddresses: [IPAddress]?

        public init(name: String, domains: [String] = [], addresses: [IPAddress] = [],
                    sinkholeAddresses: [IPAddress]? = nil) {
            self.name = name
            self.domains = domains
            self.addresses = addresses
            self.sinkholeAddresses = sinkholeAddresses
        }
    }

    /// The authoritative DNS responder (UDP and TCP on each listen address).
    public struct DNS: Sendable, Equatable {
        public var listen: [ListenAddress] = [ListenAddress(.v4Any, port: 53), ListenAddress(.v6Any, port: 53)]
        /// Seconds, at most 2^31 - 1 (RFC 2181 §8).
        public var ttl: Int = 300
        /// Apex NS/SOA names, so the sinkhole identifies itself to anyone who looks.
        public var nameservers: [String] = []
        public var rateLimit: RateLimit = RateLimit()
        /// Threads answering UDP, each with its own socket per listen address; 0 picks one per
        /// core but one (the writer needs a core to log what they answer).
        public var udpWorkers: Int = 0
        public init() {}

        /// Response rate limiting, with BIND's RRL knobs and meanings.
        public struct RateLimit: Sendable, Equatable {
            /// Identical responses per second to one client prefix; 0 turns limiting off.
            public var responsesPerSecond: Int = 20
            /// Every `slip`-th limited response is sent truncated (TC=1) instead of dropped, so
            /// a real resolver whose address is spoofed retries over TCP; 0 never slips.
            public var slip: Int = 2
            /// Seconds over which the rate is averaged.
            public var window: Int = 15
            /// Clients are grouped by these prefix lengths.
            public var ipv4Prefix: Int = 24
            public var ipv6Prefix: Int = 56
            public init() {}
        }
    }

    /// The HTTP and TLS responders.
    public struct HTTP: Sendable, Equatable {
        public var listen: [ListenAddress] = [ListenAddress(.v4Any, port: 80)]
        /// TLS listeners; a self-signed certificate is generated when none is configured.
        public var tlsListen: [ListenAddress] = [ListenAddress(.v4Any, port: 443)]
        /// PEM file with the certificate chain the TLS listeners present (leaf first); nil
        /// makes the sinkhole sign its own for the seized names. Set with `tlsKey` or not at all.
        public var tlsCertificate: String? = nil
        /// PEM file with the private key of `tlsCertificate` (not encrypted).
        public var tlsKey: String? = nil
        public var response: Response = Response()
        /// How much of each request body goes into its SHA-256 digest, in KiB.
        public var bodyDigestKiB: Int = 16
        /// Bodies up to this size are read and answered; larger ones get a 413, in KiB.
        public var maxBodyKiB: Int = 1024
        /// Beyond `maxBodyKiB`, how much more is read and discarded before the 413, in KiB.
        public var discardBodyKiB: Int = 1024
        /// Seconds from a request's first byte to the end of its head.
        public var headerTimeoutS: Int = 10
        /// Seconds from the end of a request's head to the end of its body.
        public var bodyTimeoutS: Int = 30
        /// Seconds a connection may stay open with nothing arriving.
        public var idleTimeoutS: Int = 30
        /// Connections open at once per listener; the longest idle is closed for a newcomer.
        public var maxConnections: Int = 1024
        public init() {}

        /// What every request is answered with.
        public struct Response: Sendable, Equatable {
            /// 200 to 599: a 1xx is not a final answer.
            public var status: Int = 200
            /// A file whose bytes are the body; nil sends an empty body.
            public var bodyFile: String? = nil
            /// Extra header fields, in the order written.
            public var headers: [Header] = []
            /// The text of the page browsers get (requests whose `Accept` has `text/html`).
            public var browserText: String = HTTPResponses.Configuration.defaultBrowserText
            public init() {}

            public struct Header: Sendable, Equatable {
                public var name: String
                public var value: String
                public init(name: String, value: String) {
                    self.name = name
                    self.value = value
                }
            }
        }
    }

    /// Raw TCP/UDP listeners that record whatever arrives: `Deploy/nftables.conf` redirects
    /// every port of the sinkhole and seized addresses that no responder serves here.
    ///
    /// None by default: a catch-all only means something behind that ruleset, and a default
    /// listener on a port bots dial themselves (8080 is an HTTP port) would log their
    /// requests as raw bytes instead of letting the HTTP responder answer them.
    public struct CatchAll: Sendable, Equatable {
        public var tcp: [ListenAddress] = []
        public var udp: [ListenAddress] = []
        /// Bytes awaited on a TCP connection before it is logged and closed, and kept of a
        /// UDP datagram: 0 to `CheckIn.Limits.firstBytes` (64), which is all a check-in keeps.
        public var readBytes: Int = CheckIn.Limits.firstBytes
        /// Seconds a TCP connection may send nothing before it is logged with what it sent.
        public var idleTimeoutS: Int = 5
        /// TCP connections open at once per listener; the longest idle is closed for a newcomer.
        public var maxConnections: Int = 1024
        public init() {}
    }

    /// The libpcap capture engine.
    public struct Capture: Sendable, Equatable {
        /// The interface to capture on (`eth0`); nil turns live capture off.
        public var interface: String? = nil
        /// A pcap or pcapng file read once at start, its packets stored with the capture's
        /// timestamps as a live capture's would be; exclusive with `interface`.
        public var file: String? = nil
        /// A BPF filter; nil builds one from the sinkhole and seized addresses.
        public var filter: String? = nil
        /// The kernel capture buffer in MiB (`pcap_set_buffer_size`). libpcap's default of
        /// 2 MiB lost packets here from about 840k packets/s; 128 MiB kept up with the sender.
        public var bufferMB: Int = 64
        /// Bytes kept of each packet: 1968 holds a whole first segment (a 1500-byte MTU's
        /// frame, with two VLAN tags), so a bot's HTTP head and DNS query are decoded as the
        /// responders see them. Not 2048: in immediate mode libpcap's kernel ring is made of
        /// frames of the snaplen plus up to 80 bytes of header, in 4 KiB pages. 1968 fits two
        /// frames in a page; 2048 fitted one, so `buffer_mb: 64` pinned 123 MiB for the same
        /// number of packets (measured in /proc/PID/maps).
        public var snaplen: Int = 1968
        public init() {}
    }

    /// The event rings, sized once at start.
    public struct Ring: Sendable, Equatable {
        public var memoryMB: Int = 64
        public init() {}
    }

    /// The deduplicating writer.
    public struct Writer: Sendable, Equatable {
        /// Check-in rows a batch holds at most.
        public var batchSize: Int = 4096
        /// DNS query rows a batch holds at most (`Writer.Configuration.dnsBatchSize`: when to raise it).
        public var dnsBatchSize: Int = 4096
        public var flushIntervalMS: Int = 1000
        /// Events with the same 5-tuple inside this many seconds merge into one row; 0 merges only
        /// events stamped in the same microsecond (the same packet seen twice).
        public var sessionWindowS: Int = 120
        /// Batches held in memory while the store refuses them (PostgreSQL down, a full
        /// disk), each up to `batchSize` check-in rows or `dnsBatchSize` DNS rows (or a mix in
        /// proportion): 16 keeps a minute or more of a busy sinkhole's rows before the rings
        /// fill and drops are counted.
        public var spillBatches: Int = 16
        public init() {}
    }

    /// Where check-ins are stored.
    public struct Store: Sendable, Equatable {
        /// The embedded SQLite database file (used unless `postgres` is set).
        public var sqlite: String = "/var/lib/sinkhole/checkins.db"
        /// A `postgres://` URL shared by several nodes; nil uses SQLite. It may hold the
        /// password; it is never logged (`PostgresLocation.description` leaves it out).
        public var postgres: String? = nil
        /// A file holding the PostgreSQL password (one line; a final newline is ignored),
        /// instead of a password in the URL.
        public var postgresPasswordFile: String? = nil
        public var retentionDays: RetentionDays = RetentionDays()
        public init() {}

        /// Days each table is kept; 0 keeps it forever. Enforced by the PostgreSQL store
        /// (checkins by dropping daily partitions, hourly).
        public struct RetentionDays: Sendable, Equatable {
            public var checkins: Int = 30
            public var infections: Int = 400
            public var dnsQueries: Int = 30
            public init() {}
        }
    }

    /// The per-ISP feeds and their API.
    public struct Feeds: Sendable, Equatable {
        /// True when the file has a `feeds` section: only then does `check-config` read the
        /// files below (a server that does not make feeds should not fail for lack of them).
        public var isConfigured = false
        /// CAIDA RouteViews prefix2as files (IPv4 and IPv6 are published apart; `.gz` is
        /// read as is); empty for no ASN map (ISPs are then matched by their CIDRs only).
        public var asnMap: [String] = ["/etc/sinkhole/pfx2as.txt"]
        /// The ISP directory (`isps.yaml`).
        public var isps: String = "/etc/sinkhole/isps.yaml"
        /// Researchers' and crawlers' networks, left out of every feed.
        public var ignore: [CIDR] = []
        public var exportDir: String = "/var/lib/sinkhole/feeds"
        /// PEM certificate chain and private key for the feed API; without them the API
        /// listens on loopback only (bearer tokens never cross a network in clear).
        public var tlsCertificate: String? = nil
        public var tlsKey: String? = nil
        /// Requests per minute each ISP may make to the API after a burst of
        /// `rateLimitBurst` (429 beyond); 0 turns the limit off.
        public var rateLimitPerMinute = 60
        public var rateLimitBurst = 10
        /// The feed API.
        public var listen: ListenAddress = ListenAddress(.v4Loopback, port: 8443)
        public init() {}
    }

    /// The observability listener: `/metrics` (Prometheus), `/healthz`, `/readyz`, `/status`.
    public struct Metrics: Sendable, Equatable {
        /// nil (`listen: null`): no such listener. Loopback by default: none of it has
        /// authentication, and /status names what bots ask for.
        public var listen: ListenAddress? = ListenAddress(.v4Loopback, port: 9798)
        public init() {}
    }

    /// The host name (the default `node`), or `sinkhole` when the system has none.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "sinkhole" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) },
                          as: UTF8.self)
        return name.isEmpty ? "sinkhole" : name
    }
}

extension IPAddress {
    /// `0.0.0.0`, `::` and `127.0.0.1`, for the defaults above.
    static let v4Any = IPAddress(ipv4: 0)
    static let v6Any = IPAddress(ipv6High: 0, low: 0)
    static let v4Loopback = IPAddress(ipv4: 0x7f00_0001)
}
