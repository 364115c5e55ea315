import SinkholeCore
import Foundation
import Testing

@testable import SinkholeServer

/// One bad configuration and the single error it must produce.
struct BadConfiguration: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var line: Int
    var column: Int
    var keyPath: String
    /// A fragment the message must contain.
    var message: String
    var testDescription: String { name }

    init(_ name: String, _ yaml: String, _ line: Int, _ column: Int, _ keyPath: String, _ message: String) {
        (self.name, self.yaml, self.line, self.column, self.keyPath, self.message) = (name, yaml, line, column, keyPath, message)
    }
}

let badConfigurations: [BadConfiguration] = [
    // Unknown keys.
    .init("unknown top-level key", "node: a\nnod: b\n", 2, 1, "nod", "unknown key \"nod\"; did you mean \"node\"?"),
    .init("unknown nested key", "dns:\n  tll: 30\n", 2, 3, "dns.tll", "unknown key \"tll\"; did you mean \"ttl\"?"),
    .init("unknown key in a flow mapping", "dns:\n  rate_limit: {burst: 3}\n", 2, 16, "dns.rate_limit.burst",
          "unknown key \"burst\" (expected one of: responses_per_second, slip"),
    .init("unknown key in a family", "families:\n  - name: a\n    domain: [x]\n", 3, 5, "families[0].domain",
          "did you mean \"domains\"?"),
    // Wrong types.
    .init("quoted number", "dns:\n  ttl: \"300\"\n", 2, 8, "dns.ttl", "expected a whole number, found \"300\""),
    .init("word for a number", "ring: {memory_mb: lots}", 1, 19, "ring.memory_mb", "expected a whole number, found \"lots\""),
    .init("YAML 1.1 sexagesimal", "dns: {ttl: 5:00}", 1, 12, "dns.ttl", "expected a whole number"),
    .init("null for a number", "writer:\n  batch_size:\n", 2, 14, "writer.batch_size", "found null"),
    .init("scalar for a list", "sinkhole_addresses: 198.51.100.10\n", 1, 21, "sinkhole_addresses",
          "expected a list of IP addresses, found \"198.51.100.10\" (write [\"198.51.100.10\"] for a list of one)"),
    .init("mapping for a string", "node: {a: 1}\n", 1, 7, "node", "expected a string, found a mapping"),
    .init("list for a section", "dns: [1]\n", 1, 6, "dns", "expected a mapping with keys listen, ttl"),
    .init("scalar for the document", "just text\n", 1, 1, "", "expected a mapping"),
    .init("null for a non-null string", "families:\n  - name: ~\n    domains: [a]\n", 2, 11, "families[0].name",
          "expected a string, found null"),
    // Addresses, prefixes and listen addresses.
    .init("bad address", "families:\n  - name: a\n    addresses: [198.51.100.1, \"198.51.100.300\"]\n", 3, 31,
          "families[0].addresses[1]", "\"198.51.100.300\" is not an IPv4 or IPv6 address"),
    .init("CIDR with host bits", "feeds:\n  ignore: [\"203.0.113.7/24\"]\n", 2, 12, "feeds.ignore[0]",
          "\"203.0.113.7/24\" has host bits set below /24"),
    .init("CIDR too long", "feeds: {ignore: [10.0.0.0/33]}", 1, 18, "feeds.ignore[0]", "the length must be 0 to 32"),
    .init("CIDR bad address", "feeds: {ignore: [10.0.0/8]}", 1, 18, "feeds.ignore[0]", "\"10.0.0\" is not an IPv4 or IPv6 address"),
    .init("listen without brackets", "dns:\n  listen: [\"0.0.0.0:53\", \"::1:53\"]\n", 2, 26, "dns.listen[1]",
          "needs brackets around an IPv6 address"),
    .init("listen without port", "metrics: {listen: \"127.0.0.1\"}", 1, 19, "metrics.listen", "has no port"),
    .init("listen port too big", "http: {listen: [\"127.0.0.1:65536\"]}", 1, 17, "http.listen[0]",
          "a port is a number from 0 to 65535"),
    .init("listen host name", "catch_all: {udp: [\"localhost:53\"]}", 1, 19, "catch_all.udp[0]", "names are not resolved"),
    // One UDP worker thread polls every socket of its list, 64 at most (UDPWorker, poll set).
    .init("65 catch-all UDP listen addresses", "catch_all: {udp: [\((1...65).map { "\"127.0.0.1:\(9000 + $0)\"" }.joined(separator: ", "))]}",
          1, 18, "catch_all.udp", "at most 64 addresses"),
    .init("65 DNS listen addresses", "dns: {listen: [\((1...65).map { "\"127.0.0.1:\(9000 + $0)\"" }.joined(separator: ", "))]}",
          1, 15, "dns.listen", "at most 64 addresses"),
    .init("catch-all read_bytes beyond what a check-in keeps", "catch_all:\n  read_bytes: 65\n", 2, 15,
          "catch_all.read_bytes", "65 is out of range: must be from 0 to 64"),
    .init("catch-all idle timeout 0", "catch_all: {idle_timeout_s: 0}", 1, 29, "catch_all.idle_timeout_s",
          "0 is out of range: must be from 1 to 3600"),
    .init("capture buffer of 0 MiB", "capture:\n  buffer_mb: 0\n", 2, 14, "capture.buffer_mb",
          "0 is out of range: must be from 1 to 4096"),
    .init("capture snaplen under the headers", "capture: {snaplen: 64}", 1, 20, "capture.snaplen",
          "64 is out of range: must be from 128 to 262144"),
    .init("capture snaplen as text", "capture:\n  snaplen: all\n", 2, 12, "capture.snaplen", "expected a whole number, found \"all\""),
    .init("capture filter that does not compile", "capture:\n  filter: \"dst host and or\"\n", 2, 11, "capture.filter",
          "pcap_compile: "),
    .init("capture key misspelt", "capture:\n  snaplenn: 8\n", 2, 3, "capture.snaplenn", "did you mean \"snaplen\"?"),
    .init("catch-all connections as text", "catch_all: {max_connections: many}", 1, 30, "catch_all.max_connections",
          "expected a whole number, found \"many\""),
    .init("catch-all unknown key", "catch_all: {read_byte: 8}", 1, 13, "catch_all.read_byte",
          "did you mean \"read_bytes\"?"),
    // Ranges.
    .init("negative ttl", "dns: {ttl: -1}", 1, 12, "dns.ttl", "-1 is out of range: must be from 0 to 2147483647"),
    .init("ipv4 prefix over 32", "dns:\n  rate_limit:\n    ipv4_prefix: 33\n", 3, 18, "dns.rate_limit.ipv4_prefix",
          "33 is out of range: must be from 0 to 32"),
    .init("ipv6 prefix over 128", "dns: {rate_limit: {ipv6_prefix: 129}}", 1, 33, "dns.rate_limit.ipv6_prefix",
          "from 0 to 128"),
    .init("zero batch size", "writer: {batch_size: 0}", 1, 22, "writer.batch_size", "0 is out of range"),
    .init("zero DNS batch size", "writer: {dns_batch_size: 0}", 1, 26, "writer.dns_batch_size", "0 is out of range"),
    .init("zero ring memory", "ring: {memory_mb: 0}", 1, 19, "ring.memory_mb", "0 is out of range"),
    .init("HTTP status below 100", "http: {response: {status: 99}}", 1, 27, "http.response.status", "from 200 to 599"),
    .init("HTTP 1xx as the final status", "http: {response: {status: 101}}", 1, 27, "http.response.status", "from 200 to 599"),
    .init("HTTP header with CR LF", "http: {response: {headers: {X-A: \"a\\r\\nSet-Cookie: x\"}}}", 1, 34,
          "http.response.headers.X-A", "cannot contain CR, LF or NUL"),
    .init("HTTP header name not a token", "http: {response: {headers: {\"X A\": b}}}", 1, 29,
          "http.response.headers.X A", "is not a header field name"),
    .init("HTTP header the responder writes", "http: {response: {headers: {Content-Length: 5}}}", 1, 29,
          "http.response.headers.Content-Length", "written by the responder itself"),
    .init("TLS certificate without its key", "http:\n  tls_certificate: cert.pem\n", 2, 20, "http.tls_certificate",
          "tls_certificate needs tls_key"),
    .init("TLS key without its certificate", "http: {tls_listen: [\"127.0.0.1:8443\"], tls_key: key.pem}", 1, 49,
          "http.tls_key", "tls_key needs tls_certificate"),
    .init("feed API beyond loopback without TLS", "feeds:\n  listen: \"0.0.0.0:8443\"\n", 2, 11, "feeds.listen",
          "0.0.0.0:8443 is not a loopback address; the feed API serves beyond this host only over TLS"),
    .init("feed API certificate without its key", "feeds: {tls_certificate: c.pem}", 1, 26, "feeds.tls_certificate",
          "tls_certificate needs tls_key"),
    .init("feed API rate limit out of range", "feeds: {rate_limit_burst: 0}", 1, 27, "feeds.rate_limit_burst", "from 1 to"),
    .init("TLS certificate empty path", "http: {tls_certificate: \"\", tls_key: k.pem}", 1, 25, "http.tls_certificate",
          "a file path cannot be empty"),
    .init("HTTP header timeout zero", "http: {header_timeout_s: 0}", 1, 26, "http.header_timeout_s", "from 1 to 3600"),
    .init("HTTP body timeout zero", "http: {body_timeout_s: 0}", 1, 24, "http.body_timeout_s", "from 1 to 3600"),
    .init("HTTP body timeout over an hour", "http:\n  body_timeout_s: 3601\n", 2, 19, "http.body_timeout_s", "from 1 to 3600"),
    .init("HTTP body file missing", "http: {response: {body_file: /nonexistent/sinkhole/page.html}}", 1, 30,
          "http.response.body_file", "/nonexistent/sinkhole/page.html: no such file"),
    // 0 keeps a table forever; below that is an error.
    .init("negative retention", "store: {retention_days: {infections: -1}}", 1, 38, "store.retention_days.infections",
          "-1 is out of range: must be from 0 to 36500"),
    // Families.
    .init("duplicate family", "families:\n  - {name: rustock, domains: [a]}\n  - {name: rustock, domains: [b]}\n", 3, 12,
          "families[1].name", "duplicate family \"rustock\" (first at line 2)"),
    .init("empty family name", "families:\n  - {name: \"\", domains: [a]}\n", 2, 12, "families[0].name",
          "family name cannot be empty"),
    .init("family name too long", "families:\n  - {name: \(String(repeating: "a", count: 33)), domains: [a]}\n", 2, 12,
          "families[0].name", "is 33 bytes; at most 32"),
    .init("uppercase family name", "families:\n  - {name: Rustock, domains: [a]}\n", 2, 12, "families[0].name",
          "must match [a-z0-9][a-z0-9_-]*"),
    .init("family name starting with a dash", "families:\n  - {name: \"-x\", domains: [a]}\n", 2, 12,
          "families[0].name", "must match"),
    .init("family without a name", "families:\n  - {domains: [a]}\n", 2, 5, "families[0]", "a family needs a \"name\""),
    .init("family labelling nothing", "families:\n  - {name: idle}\n", 2, 5, "families[0]", "needs \"domains\" or \"addresses\""),
    .init("seized address in two families",
          "families:\n  - {name: a, addresses: [192.0.2.1]}\n  - {name: b, addresses: [192.0.2.1]}\n", 3, 27,
          "families[1].addresses[0]", "192.0.2.1 is already a seized address of family \"a\""),
    .init("unknown strftime pattern", "families:\n  - {name: a, domains: [\"lists/%D.txt\"]}\n", 2, 25,
          "families[0].domains[0]", "only %Y, %m, %d and %% are expanded"),
    .init("no DNS listener", "dns:\n  listen: []\n", 2, 11, "dns.listen", "needs at least one address"),
    .init("a listen address twice", "dns:\n  listen: [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n", 2, 28,
          "dns.listen[1]", "127.0.0.1:53 is listed twice"),
    .init("ring memory beyond any host", "ring: {memory_mb: 1048576}\n", 1, 19, "ring.memory_mb", "must be from 1 to 16384"),
    // Other values.
    .init("node name with a slash", "node: ../evil\n", 1, 7, "node", "it is used in file names"),
    .init("postgres URL", "store: {postgres: \"mysql://db\"}", 1, 19, "store.postgres", "is not a postgres://"),
    .init("postgres URL without a database, password not echoed", "store: {postgres: \"postgresql://u:hunter2@db\"}", 1, 19,
          "store.postgres", "no database name"),
    .init("both stores", "store:\n  sqlite: a.db\n  postgres: postgresql://u@db/d\n", 2, 11, "store.sqlite",
          "store.sqlite and store.postgres are both set; set exactly one"),
    .init("password twice", "store:\n  postgres: postgresql://u:pw@db/d\n  postgres_password_file: pw.txt\n", 2, 3,
          "store.postgres_password_file", "the password is given twice"),
    .init("bad name server", "dns: {nameservers: [\"ns1..example\"]}", 1, 21, "dns.nameservers[0]", "is not a host name"),
    // Duplicate keys and syntax.
    .init("duplicate nested key", "dns:\n  ttl: 1\n  listen: [\"127.0.0.1:53\"]\n  ttl: 2\n", 4, 3, "dns.ttl",
          "duplicate key \"ttl\" (first at line 2)"),
    .init("duplicate top-level key", "node: a\nnode: b\n", 2, 1, "node", "duplicate key \"node\""),
    .init("duplicate key in a family", "families:\n  - name: a\n    name: b\n    domains: [x]\n", 3, 5,
          "families[0].name", "duplicate key \"name\""),
    .init("unclosed flow list", "dns:\n  listen: [\"0.0.0.0:53\"\nhttp: {}\n", 3, 1, "", "YAML syntax error"),
    .init("bad indentation", "dns:\n  ttl: 1\n listen: []\n", 3, 2, "", "YAML syntax error"),
]

@Suite("Configuration errors")
struct ConfigurationErrorTests {
    static let file = "/etc/sinkhole/sinkhole.yaml"

    func errors(_ yaml: String) -> [ConfigurationError] {
        do {
            _ = try SinkholeConfiguration(yaml: yaml, file: Self.file)
            return []
        } catch {
            return error.errors
        }
    }

    @Test("each kind of mistake names the file, line, column and key path", arguments: badConfigurations)
    func reportsMistake(bad: BadConfiguration) throws {
        let found = errors(bad.yaml)
        try #require(found.count == 1, "\(found)")
        let error = found[0]
        #expect(error.file == Self.file)
        #expect(error.line == bad.line, "\(error)")
        #expect(error.column == bad.column, "\(error)")
        #expect(error.keyPath == bad.keyPath, "\(error)")
        #expect(error.message.contains(bad.message), "\(error)")
    }

    @Test("the description reads file:line:column: key path: message")
    func descriptionFormat() {
        let yaml = """
            families:
              - name: rustock
                domains: [rustock.txt]
              - name: conficker
                addresses:
                  - 198.51.100.300
            """
        #expect(errors(yaml).map(\.description) == [
            "/etc/sinkhole/sinkhole.yaml:6:9: families[1].addresses[0]: \"198.51.100.300\" is not an IPv4 or IPv6 address",
        ])
    }

    @Test("every error in the file is reported, in document order, one line each")
    func collectsAllErrors() {
        let yaml = """
            node: a
            dns:
              ttl: "300"
              listen: ["0.0.0.0"]
              ttl: 5
            colour: blue
            writer: {batch_size: 0}
            """
        let found = errors(yaml)
        #expect(found.map(\.keyPath) == ["dns.listen[0]", "dns.ttl", "colour", "writer.batch_size"])
        #expect(found.map(\.line) == [4, 5, 6, 7])
        let all = ConfigurationErrors(found)
        #expect(all.description.split(separator: "\n").count == 4)
    }

    @Test("several duplicate keys are each reported with their key path")
    func severalDuplicates() {
        let yaml = "node: a\nnode: b\nstore:\n  sqlite: x.db\n  sqlite: y.db\n"
        let found = errors(yaml)
        #expect(found.map(\.keyPath) == ["node", "store.sqlite"])
        #expect(found.map(\.line) == [2, 5])
    }

    @Test("http.response.body_file must be a readable regular file of at most 1 MiB, named relative to the config")
    func bodyFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sinkhole-body-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("www"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("conf/sinkhole.yaml").path
        try Data("<p>gone</p>".utf8).write(to: directory.appendingPathComponent("www/page.html"))
        try Data(count: ConfigurationReader.maxBodyFileBytes).write(to: directory.appendingPathComponent("www/limit.bin"))
        try Data(count: ConfigurationReader.maxBodyFileBytes + 1).write(to: directory.appendingPathComponent("www/big.bin"))
        #expect(mkfifo(directory.appendingPathComponent("www/fifo").path, 0o600) == 0)
        func check(_ name: String) -> [ConfigurationError] {
            do {
                _ = try SinkholeConfiguration(yaml: "http:\n  response:\n    body_file: \(name)\n", file: file)
                return []
            } catch {
                return error.errors
            }
        }
        let ok = try SinkholeConfiguration(yaml: "http: {response: {body_file: ../www/page.html}}", file: file)
        #expect(ok.http.response.bodyFile == directory.appendingPathComponent("www/page.html").path)
        #expect(check("../www/limit.bin").isEmpty)
        for (name, complaint) in [("../www/big.bin", "is 1048577 bytes; a response body may be at most 1048576 bytes"),
                                  ("../www", "is a directory"), ("../www/fifo", "is not a regular file"),
                                  ("../www/none.html", "no such file")] {
            let found = check(name)
            try #require(found.count == 1, "\(name): \(found)")
            #expect(found[0].file == file && found[0].line == 3 && found[0].column == 16, "\(found[0])")
            #expect(found[0].keyPath == "http.response.body_file" && found[0].message.contains(complaint), "\(found[0])")
        }
    }

    @Test("null is accepted where DESIGN.md shows it")
    func nullsAccepted() throws {
        let yaml = """
            families: [{name: a, domains: [a.txt], sinkhole_addresses: null}]
            http: {response: {body_file: ~}}
            capture: {interface: null, filter: null}
            store: {postgres: null}
            """
        let config = try SinkholeConfiguration(yaml: yaml, file: Self.file)
        #expect(config.families[0].sinkholeAddresses == nil && config.http.response.bodyFile == nil)
        #expect(config.capture.interface == nil && config.store.postgres == nil)
    }

    @Test("a missing file is one error naming the file")
    func missingFile() {
        let path = "/nonexistent-\(UUID().uuidString)/sinkhole.yaml"
        #expect {
            _ = try SinkholeConfiguration.load(path: path)
        } throws: { error in
            guard let errors = error as? ConfigurationErrors, errors.errors.count == 1 else { return false }
            return errors.description == "\(path): cannot read the configuration file: no such file"
        }
    }

    @Test("a directory given as the file is refused with a reason")
    func directoryAsFile() throws {
        let errors = #expect(throws: ConfigurationErrors.self) {
            _ = try SinkholeConfiguration.load(path: NSTemporaryDirectory())
        }
        #expect(errors?.description.hasSuffix("cannot read the configuration file: it is a directory") == true)
    }
}
