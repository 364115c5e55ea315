import Foundation
import SinkholeCapture
import SinkholeCore
import SinkholeHTTP
import SinkholeStore
import Yams

/// Readers for the service sections: each starts from the section's defaults and overrides
/// the keys the file sets, checking ranges so the services can trust their values.
extension ConfigurationReader {
    /// RFC 2181 §8: a TTL is an unsigned 31-bit number.
    static let maxTTL = Int(Int32.max)
    /// Upper bounds on sizes and counts: far beyond any sensible value, low enough that a
    /// typo (an extra zero or three) is caught before it allocates the machine away.
    static let maxCount = 100_000_000

    mutating func dns(_ value: Node, _ path: String) -> Config.DNS {
        var dns = Config.DNS()
        for (key, value, path) in fields(value, path, allowed: ["listen", "ttl", "nameservers", "rate_limit", "udp_workers"]) {
            switch key {
            case "listen":
                let errorsBefore = errors.count
                guard let v = udpListens(value, path) else { continue }
                if v.isEmpty && errors.count == errorsBefore {
                    fail(value, path, "needs at least one address: the DNS responder is what bots reach first")
                }
                dns.listen = v
            case "ttl": if let v = int(value, path, 0...Self.maxTTL) { dns.ttl = v }
            case "udp_workers": if let v = int(value, path, 0...64) { dns.udpWorkers = v }
            case "nameservers":
                guard let items = items(value, path, of: "name server names") else { continue }
                dns.nameservers = items.compactMap { hostName($0.value, $0.path) }
            default: dns.rateLimit = rateLimit(value, path)
            }
        }
        return dns
    }

    /// Ranges follow BIND's RRL (`responses-per-second`, `slip` 0–10, `window` 1–3600).
    mutating func rateLimit(_ value: Node, _ path: String) -> Config.DNS.RateLimit {
        var limit = Config.DNS.RateLimit()
        let keys = ["responses_per_second", "slip", "window", "ipv4_prefix", "ipv6_prefix"]
        for (key, value, path) in fields(value, path, allowed: keys) {
            switch key {
            case "responses_per_second": if let v = int(value, path, 0...1_000_000) { limit.responsesPerSecond = v }
            case "slip": if let v = int(value, path, 0...10) { limit.slip = v }
            case "window": if let v = int(value, path, 1...3600) { limit.window = v }
            case "ipv4_prefix": if let v = int(value, path, 0...32) { limit.ipv4Prefix = v }
            default: if let v = int(value, path, 0...128) { limit.ipv6Prefix = v }
            }
        }
        return limit
    }

    /// A name server's name: dot-separated labels of letters, digits, `-` and `_`, at most
    /// 253 bytes (RFC 1035 §2.3.4), with or without the final dot.
    mutating func hostName(_ value: Node, _ path: String) -> String? {
        guard let name = string(value, path, what: "a host name") else { return nil }
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        let labels = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        let valid = !trimmed.isEmpty && trimmed.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        guard valid else {
            fail(value, path, "\"\(name)\" is not a host name")
            return nil
        }
        return name
    }

    mutating func http(_ value: Node, _ path: String) -> Config.HTTP {
        var http = Config.HTTP()
        let keys = ["listen", "tls_listen", "tls_certificate", "tls_key", "response", "body_digest_kib", "max_body_kib",
                    "discard_body_kib", "header_timeout_s", "body_timeout_s", "idle_timeout_s", "max_connections"]
        // Where each of the pair was set, to name it if the other is missing.
        var certificateAt: (node: Node, path: String)?
        var keyAt: (node: Node, path: String)?
        for (key, value, path) in fields(value, path, allowed: keys) {
            switch key {
            case "listen": if let v = listens(value, path) { http.listen = v }
            case "tls_listen": if let v = listens(value, path) { http.tlsListen = v }
            case "tls_certificate":
                guard !Self.isNull(value) else { continue }
                certificateAt = (value, path)  // even if unusable: one error, not a second about the pair
                if let v = self.path(value, path) { http.tlsCertificate = v }
            case "tls_key":
                guard !Self.isNull(value) else { continue }
                keyAt = (value, path)
                if let v = self.path(value, path) { http.tlsKey = v }
            case "body_digest_kib": if let v = int(value, path, 0...1024) { http.bodyDigestKiB = v }
            case "max_body_kib": if let v = int(value, path, 0...1_048_576) { http.maxBodyKiB = v }
            case "discard_body_kib": if let v = int(value, path, 0...1_048_576) { http.discardBodyKiB = v }
            case "header_timeout_s": if let v = int(value, path, 1...3600) { http.headerTimeoutS = v }
            case "body_timeout_s": if let v = int(value, path, 1...3600) { http.bodyTimeoutS = v }
            case "idle_timeout_s": if let v = int(value, path, 1...86_400) { http.idleTimeoutS = v }
            case "max_connections": if let v = int(value, path, 1...1_000_000) { http.maxConnections = v }
            default: http.response = response(value, path)
            }
        }
        // A certificate without its key (or the reverse) cannot serve; quietly generating one
        // instead would hide the typo until a bot got the wrong certificate.
        if let (node, path) = certificateAt, keyAt == nil {
            fail(node, path, "tls_certificate needs tls_key (the certificate's private key, PEM) beside it")
        } else if let (node, path) = keyAt, certificateAt == nil {
            fail(node, path, "tls_key needs tls_certificate (the certificate chain, PEM) beside it")
        }
        return http
    }

    mutating func response(_ value: Node, _ path: String) -> Config.HTTP.Response {
        var response = Config.HTTP.Response()
        for (key, value, path) in fields(value, path, allowed: ["status", "body_file", "headers", "browser_text"]) {
            switch key {
            case "status": if let v = int(value, path, 200...599) { response.status = v }
            case "headers": response.headers = headers(value, path)
            case "browser_text": if let v = string(value, path, what: "text") { response.browserText = v }
            default:
                if Self.isNull(value) {
                    response.bodyFile = nil
                } else if let v = bodyFile(value, path) {
                    response.bodyFile = v
                }
            }
        }
        return response
    }

    /// Listen addresses served over UDP: every worker thread polls a socket for each address of
    /// its list, and a `UDPWorker` (its poll set) takes at most 64; more would stop `run` on a
    /// precondition after it had bound the other listeners.
    mutating func udpListens(_ value: Node, _ path: String) -> [ListenAddress]? {
        guard let v = listens(value, path) else { return nil }
        guard v.count <= 64 else {
            fail(value, path, "\(v.count) listen addresses; at most 64 addresses (one UDP worker thread polls them all)")
            return nil
        }
        return v
    }

    /// The largest `http.response.body_file`: the body is held in memory and written into every
    /// answer, so a sinkhole's decoy page, not a download (a typo naming a disk image is caught).
    static let maxBodyFileBytes = 1 << 20

    /// `http.response.body_file`: checked here, where its line is known, rather than when `run`
    /// reads it, so `check-config` catches a missing, unreadable, oversized or directory path
    /// and names the file, line and key. Unlike a domain list it is read once at start.
    mutating func bodyFile(_ value: Node, _ path: String) -> String? {
        guard let (resolved, size) = readableFile(value, path, what: "the body") else { return nil }
        guard size <= Self.maxBodyFileBytes else {
            fail(value, path, "\(resolved) is \(size) bytes; a response body may be at most \(Self.maxBodyFileBytes) bytes (1 MiB)")
            return nil
        }
        return resolved
    }

    /// A path to a regular file this user can read, and its size; an error naming the file,
    /// line and key otherwise (`what` names the file in the directory message).
    mutating func readableFile(_ value: Node, _ path: String, what: String) -> (path: String, size: Int)? {
        guard let resolved = self.path(value, path) else { return nil }
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            fail(value, path, "\(resolved): no such file")
            return nil
        }
        guard !isDirectory.boolValue else {
            fail(value, path, "\(resolved) is a directory; \(what) must be a file")
            return nil
        }
        let attributes = try? files.attributesOfItem(atPath: resolved)
        // A FIFO or a device would block or never end the read at start.
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            fail(value, path, "\(resolved) is not a regular file")
            return nil
        }
        guard files.isReadableFile(atPath: resolved) else {
            fail(value, path, "\(resolved) is not readable by this user (permission denied)")
            return nil
        }
        return (resolved, (attributes?[.size] as? NSNumber)?.intValue ?? 0)
    }

    /// Response header fields: a mapping of field name to value, in order. Names are tokens
    /// (RFC 9110 §5.1), values have no CR, LF or NUL (§5.5), and the fields the responder
    /// writes itself are refused rather than sent twice.
    mutating func headers(_ value: Node, _ path: String) -> [Config.HTTP.Response.Header] {
        if Self.isNull(value) { return [] }
        guard case .mapping(let mapping) = value else {
            fail(value, path, "expected a mapping of header names to values, found \(Self.describe(value))")
            return []
        }
        var headers: [Config.HTTP.Response.Header] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                fail(keyNode, path, "header names must be plain names, found \(Self.describe(keyNode))")
                continue
            }
            let name = scalar.string
            if name.hasPrefix(Self.duplicateProbePrefix) { continue }
            let keyPath = Self.child(path, name)
            let tokenPunctuation = Set("!#$%&'*+-.^_`|~".utf8)
            guard !name.isEmpty, name.utf8.allSatisfy({ $0 < 0x80 && (Character(UnicodeScalar($0)).isLetter
                    || Character(UnicodeScalar($0)).isNumber || tokenPunctuation.contains($0)) }) else {
                fail(keyNode, keyPath, "\"\(name)\" is not a header field name (letters, digits and !#$%&'*+-.^_`|~ only)")
                continue
            }
            guard !HTTPResponses.Configuration.reservedHeaders.contains(name.lowercased()) else {
                fail(keyNode, keyPath, "\(name) is written by the responder itself and cannot be configured")
                continue
            }
            guard let text = string(valueNode, keyPath, what: "a header value") else { continue }
            guard !text.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 }) else {
                fail(valueNode, keyPath, "a header value cannot contain CR, LF or NUL")
                continue
            }
            headers.append(.init(name: name, value: text))
        }
        return headers
    }

    mutating func catchAll(_ value: Node, _ path: String) -> Config.CatchAll {
        var catchAll = Config.CatchAll()
        let keys = ["tcp", "udp", "read_bytes", "idle_timeout_s", "max_connections"]
        for (key, value, path) in fields(value, path, allowed: keys) {
            switch key {
            case "tcp": if let v = listens(value, path) { catchAll.tcp = v }
            case "udp": if let v = udpListens(value, path) { catchAll.udp = v }
            case "read_bytes": if let v = int(value, path, 0...CheckIn.Limits.firstBytes) { catchAll.readBytes = v }
            case "idle_timeout_s": if let v = int(value, path, 1...3600) { catchAll.idleTimeoutS = v }
            default: if let v = int(value, path, 1...1_000_000) { catchAll.maxConnections = v }
            }
        }
        return catchAll
    }

    mutating func capture(_ value: Node, _ path: String) -> Config.Capture {
        var capture = Config.Capture()
        var interfaceAt: (Node, String)?
        var fileAt: (Node, String)?
        for (key, value, path) in fields(value, path, allowed: ["interface", "file", "filter", "buffer_mb", "snaplen"]) {
            switch key {
            // The kernel's capture buffer: what absorbs a burst while the capture thread is
            // busy. 4 GiB is more than any interface needs and less than a typo's worth.
            case "buffer_mb": if let v = int(value, path, 1...4096) { capture.bufferMB = v }
            // Enough for the link, IP and transport headers at the least; 262144 is libpcap's
            // own maximum.
            case "snaplen": if let v = int(value, path, 128...262_144) { capture.snaplen = v }
            case "interface":
                capture.interface = Self.isNull(value) ? nil : string(value, path, what: "an interface name")
                interfaceAt = capture.interface == nil ? nil : (value, path)
            case "file":
                capture.file = Self.isNull(value) ? nil : captureFile(value, path)
                fileAt = capture.file == nil ? nil : (value, path)
            default:
                guard !Self.isNull(value), let filter = string(value, path, what: "a BPF filter") else {
                    capture.filter = nil
                    continue
                }
                // Compiled now, so a typo is an error naming the line, not a capture that
                // never starts.
                do {
                    try PcapHandle.checkFilter(filter)
                    capture.filter = filter
                } catch {
                    fail(value, path, "\(error)")
                }
            }
        }
        // One capture thread reads one source: a run that captures an interface and also
        // imports a file would interleave two clocks in one ring. `sinkhole replay` imports
        // files beside a running sinkhole instead.
        if let (node, path) = fileAt, let (_, interfacePath) = interfaceAt {
            fail(node, path, "\(interfacePath) is set too; a run captures from an interface or a file, not both (import a file beside a live capture with `sinkhole replay`)")
        }
        return capture
    }

    /// `capture.file`: checked here, where its line is known, as `body_file` is: a missing,
    /// unreadable or directory path, or a file libpcap cannot open as pcap or pcapng, is an
    /// error naming the file, line and key (and `check-config` finds it before a restart).
    mutating func captureFile(_ value: Node, _ path: String) -> String? {
        guard let (resolved, _) = readableFile(value, path, what: "a capture") else { return nil }
        do {
            _ = try PcapHandle.openOffline(path: resolved)
        } catch {
            fail(value, path, "\(resolved) is not a capture file libpcap reads (pcap or pcapng): \(error)")
            return nil
        }
        return resolved
    }

    mutating func ring(_ value: Node, _ path: String) -> Config.Ring {
        var ring = Config.Ring()
        for (_, value, path) in fields(value, path, allowed: ["memory_mb"]) {
            // Committed at start, so a typo in the thousands would take the host's memory.
            if let v = int(value, path, 1...16_384) { ring.memoryMB = v }
        }
        return ring
    }

    mutating func writer(_ value: Node, _ path: String) -> Config.Writer {
        var writer = Config.Writer()
        for (key, value, path) in fields(value, path, allowed: ["batch_size", "dns_batch_size", "flush_interval_ms", "session_window_s", "spill_batches"]) {
            switch key {
            case "batch_size": if let v = int(value, path, 1...Writer.Configuration.maximumBatchSize) { writer.batchSize = v }
            case "dns_batch_size": if let v = int(value, path, 1...Writer.Configuration.maximumBatchSize) { writer.dnsBatchSize = v }
            case "flush_interval_ms": if let v = int(value, path, 1...3_600_000) { writer.flushIntervalMS = v }
            case "spill_batches": if let v = int(value, path, 1...4096) { writer.spillBatches = v }
            default: if let v = int(value, path, 0...86_400) { writer.sessionWindowS = v }
            }
        }
        return writer
    }

    mutating func store(_ value: Node, _ path: String) -> Config.Store {
        var store = Config.Store()
        var sqliteNode: Node?
        var postgresNode: Node?
        for (key, value, path) in fields(value, path, allowed: ["sqlite", "postgres", "postgres_password_file", "retention_days"]) {
            switch key {
            case "sqlite":
                if let v = self.path(value, path) { store.sqlite = v; sqliteNode = value }
            case "postgres":
                if Self.isNull(value) {
                    store.postgres = nil
                } else if let url = string(value, path, what: "a postgres:// URL") {
                    // The URL is never echoed: it may hold a password.
                    do {
                        _ = try PostgresLocation(url: url)
                    } catch {
                        fail(value, path, "is not a postgres:// URL sinkhole can use: \(error) (postgresql://user@host:port/database or postgresql://user@/database?host=/socket/dir)")
                        continue
                    }
                    store.postgres = url
                    postgresNode = value
                }
            case "postgres_password_file":
                if Self.isNull(value) { store.postgresPasswordFile = nil } else if let v = self.path(value, path) { store.postgresPasswordFile = v }
            default:
                for (key, value, path) in fields(value, path, allowed: ["checkins", "infections", "dns_queries"]) {
                    // 0 keeps the table forever.
                    guard let days = int(value, path, 0...36_500) else { continue }
                    switch key {
                    case "checkins": store.retentionDays.checkins = days
                    case "infections": store.retentionDays.infections = days
                    default: store.retentionDays.dnsQueries = days
                    }
                }
            }
        }
        // Exactly one store: a node writing to SQLite while its operator thinks it feeds the
        // shared PostgreSQL would silently split the evidence.
        if let sqliteNode, postgresNode != nil {
            fail(sqliteNode, path + ".sqlite", "store.sqlite and store.postgres are both set; set exactly one")
        }
        if let url = store.postgres, store.postgresPasswordFile != nil, (try? PostgresLocation(url: url))?.password != nil {
            fail(value, path + ".postgres_password_file", "the password is given twice (in store.postgres and store.postgres_password_file); keep one")
        }
        return store
    }

    mutating func feeds(_ value: Node, _ path: String) -> Config.Feeds {
        var feeds = Config.Feeds()
        feeds.isConfigured = !Self.isNull(value)
        let keys = ["asn_map", "isps", "ignore", "export_dir", "listen", "tls_certificate", "tls_key",
                    "rate_limit_per_minute", "rate_limit_burst"]
        var listenAt: (node: Node, path: String)?
        var certificateAt: (node: Node, path: String)?
        var keyAt: (node: Node, path: String)?
        for (key, value, path) in fields(value, path, allowed: keys) {
            switch key {
            // One path or a list (CAIDA's IPv4 and IPv6 files); null or [] for none.
            case "asn_map":
                if Self.isNull(value) {
                    feeds.asnMap = []
                } else if case .sequence = value {
                    guard let items = items(value, path, of: "prefix2as file paths") else { continue }
                    feeds.asnMap = items.compactMap { self.path($0.value, $0.path) }
                } else if let v = self.path(value, path) {
                    feeds.asnMap = [v]
                }
            case "isps": if let v = self.path(value, path) { feeds.isps = v }
            case "ignore":
                guard let items = items(value, path, of: "CIDR prefixes") else { continue }
                feeds.ignore = items.compactMap { cidr($0.value, $0.path) }
            case "export_dir": if let v = self.path(value, path) { feeds.exportDir = v }
            case "tls_certificate":
                guard !Self.isNull(value) else { continue }
                certificateAt = (value, path)
                if let v = self.path(value, path) { feeds.tlsCertificate = v }
            case "tls_key":
                guard !Self.isNull(value) else { continue }
                keyAt = (value, path)
                if let v = self.path(value, path) { feeds.tlsKey = v }
            case "rate_limit_per_minute": if let v = int(value, path, 0...1_000_000) { feeds.rateLimitPerMinute = v }
            case "rate_limit_burst": if let v = int(value, path, 1...1_000_000) { feeds.rateLimitBurst = v }
            default:
                listenAt = (value, path)
                if let v = listen(value, path) { feeds.listen = v }
            }
        }
        if let (node, path) = certificateAt, keyAt == nil {
            fail(node, path, "tls_certificate needs tls_key (the certificate's private key, PEM) beside it")
        } else if let (node, path) = keyAt, certificateAt == nil {
            fail(node, path, "tls_key needs tls_certificate (the certificate chain, PEM) beside it")
        }
        // ISPs' bearer tokens must not cross a network in clear: beyond loopback the API needs TLS.
        if let (node, path) = listenAt, feeds.tlsCertificate == nil, !feeds.listen.address.isLoopback {
            fail(node, path, "\(feeds.listen) is not a loopback address; the feed API serves beyond this host only over TLS: set feeds.tls_certificate and feeds.tls_key, or listen on 127.0.0.1 or [::1] behind a TLS proxy")
        }
        return feeds
    }

    mutating func metrics(_ value: Node, _ path: String) -> Config.Metrics {
        var metrics = Config.Metrics()
        for (_, value, path) in fields(value, path, allowed: ["listen"]) {
            if Self.isNull(value) {
                metrics.listen = nil
            } else if let v = listen(value, path) {
                metrics.listen = v
            }
        }
        return metrics
    }
}
