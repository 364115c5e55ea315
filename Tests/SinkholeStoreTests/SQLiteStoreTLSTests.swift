import SinkholeCore
import SinkholeStore
import Testing

@Suite("SQLiteStore: TLS detail (schema 4)")
struct SQLiteStoreTLSTests {
    /// A TLS 1.3 hello for `name` whose handshake completed, and a request inside.
    static func request(at time: UTCTime, sni: [UInt8] = Array("cc.evil.example".utf8)) -> CheckIn {
        var event = Events.session(at: time, service: .tls, destinationPort: 443, family: "rustock", name: "cc.evil.example")
        event.tlsServerName = BoundedBytes(sni)
        event.tlsOfferedVersion = 0x0304
        event.tlsOfferedCipher = 0x1302
        event.tlsOfferedCipherCount = 30
        event.tlsCompleted = true
        event.tlsVersion = 0x0304
        event.tlsCipher = 0x1301
        event.httpMethod = BoundedBytes("GET")
        event.httpPath = BoundedBytes("/gate")
        event.httpStatus = 200
        return event
    }

    static let columns = """
        SELECT service, name, tls_sni, tls_offered_version, tls_offered_cipher, tls_offered_cipher_count,
               tls_version, tls_cipher, tls_completed, http_method, truncated FROM checkins
        """

    @Test("every TLS column: SNI as received, versions and suites by name, the packet row enriched")
    func columns() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        let packet = Events.session(at: Events.at(1), service: .packet, destinationPort: 443, family: "")
        try store.write(fold([packet, Self.request(at: Events.at(2))]), node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows(Self.columns) == [[
            .text("tls"), .text("cc.evil.example"), .text("cc.evil.example"), .text("TLSv1.3"), .text("TLS_AES_256_GCM_SHA384"),
            .integer(30), .text("TLSv1.3"), .text("TLS_AES_128_GCM_SHA256"), .integer(1), .text("GET"), .text(""),
        ]])
    }

    @Test("a failed handshake: offered detail only; unknown code points as hex; a long SNI cut and listed; bytes kept")
    func failedHandshake() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var hello = Events.session(at: Events.at(1), service: .tls, destinationPort: 443, family: "")
        hello.tlsServerName = BoundedBytes([UInt8](repeating: 0x61, count: 70) + [0xff])
        hello.name = BoundedBytes([UInt8](repeating: 0x61, count: 70))
        hello.tlsOfferedVersion = 0x7f1c
        hello.tlsOfferedCipher = 0x00c4
        hello.tlsOfferedCipherCount = 1
        try store.write(fold([hello]), node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows(Self.columns) == [[
            .text("tls"), .text(String(repeating: "a", count: 70)), .text(String(repeating: "a", count: 64)), .text("0x7f1c"),
            .text("0x00c4"), .integer(1), .text(""), .text(""), .integer(0), .text(""), .text("tls_sni"),
        ]])
        // Not TLS: the columns stay empty.
        try store.write(fold([Events.session(at: Events.at(5), sourcePort: 41_000)]), node: "n1", run: run)
        #expect(try probe.rows("SELECT tls_sni, tls_offered_version, tls_offered_cipher, tls_version, tls_cipher, tls_completed FROM checkins WHERE src_port = 41000")
                == [[.text(""), .text(""), .text(""), .text(""), .text(""), .integer(0)]])
    }

    @Test("the first hello's detail is kept: a later event of the session in a later batch does not overwrite it")
    func firstHelloKept() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Self.request(at: Events.at(1))], into: &dedup), node: "n1", run: run)
        var later = Self.request(at: Events.at(2), sni: Array("other.example".utf8))
        later.tlsCipher = 0x1303
        // Not a second request (that is a row of its own): the same connection's hello seen again.
        later.httpMethod = BoundedBytes()
        try store.write(fold([later], into: &dedup), node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT tls_sni, tls_cipher, count FROM checkins")
                == [[.text("cc.evil.example"), .text("TLS_AES_128_GCM_SHA256"), .integer(2)]])
    }
}

@Suite("Both stores keep the TLS and capture detail (schema 4 and 6)")
struct TLSAndCaptureInBothStores {
    @Test("a SYN, then the TLS request of its connection: one row with the hello's detail and the SYN's flag", arguments: StoreKind.allCases)
    func oneRow(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var syn = Events.session(at: Events.at(1), service: .packet, destinationPort: 443, family: "")
        syn.tcpFlags = 0x02
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([syn], into: &dedup), node: "n1", run: run)
        try store.write(fold([SQLiteStoreTLSTests.request(at: Events.at(2))], into: &dedup), node: "n1", run: run)
        let probe = try fixture.probe()
        #expect(try probe.rows("""
            SELECT service, tls_offered_version, tls_offered_cipher, tls_offered_cipher_count, tls_version, tls_cipher,
                   tls_completed, tcp_flags, icmp_type, count FROM checkins
            """) == [[.text("tls"), .text("TLSv1.3"), .text("TLS_AES_256_GCM_SHA384"), .integer(30), .text("TLSv1.3"),
                      .text("TLS_AES_128_GCM_SHA256"), .integer(1), .integer(2), .integer(0), .integer(2)]])
    }
}
