import SinkholeCore
import SinkholeStore
import Testing

@Suite("SQLiteStore: HTTP detail and first bytes (schema 3)")
struct SQLiteStoreHTTPTests {
    static func request(at time: UTCTime) -> CheckIn {
        var event = Events.session(at: time, service: .http, family: "rustock", name: "c2.example")
        event.httpMethod = BoundedBytes("POST")
        event.httpPath = BoundedBytes(Array("/gate?" .utf8) + [UInt8](repeating: 0x70, count: 600))
        event.httpVersion = 11
        // Invalid UTF-8 and control bytes: stored as received, as a BLOB.
        event.httpUserAgent = BoundedBytes([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x0d, 0x0a, 0x00, 0xff])
        event.httpReferer = BoundedBytes("http://r.example/")
        event.httpForwardedFor = BoundedBytes("192.0.2.1")
        event.httpContentLength = 3
        event.httpBodyBytes = 3
        event.httpBodyDigest = BoundedBytes(SHA256Hasher.hash(Array("abc".utf8)))
        event.httpHeaderCount = 6
        event.httpStatus = 200
        return event
    }

    @Test("every HTTP column is stored as received; network bytes that are not UTF-8 are a BLOB, cut fields are listed")
    func columns() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        // The capture engine's packet first, then the responder's request: the row takes the detail.
        try store.write(fold([Events.session(at: Events.at(1), service: .packet, family: ""), Self.request(at: Events.at(2))]),
                        node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        let rows = try probe.rows("""
            SELECT service, count, http_method, length(http_path), http_version, typeof(http_user_agent), hex(http_user_agent),
                   http_referer, http_forwarded_for, http_content_length, http_body_bytes, http_body_sha256,
                   http_header_count, http_status, first_bytes, truncated FROM checkins
            """)
        #expect(rows == [[
            .text("http"), .integer(2), .text("POST"), .integer(512), .text("1.1"), .text("blob"), .text("1B5B33316D0D0A00FF"),
            .text("http://r.example/"), .text("192.0.2.1"), .integer(3), .integer(3),
            .text("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            .integer(6), .integer(200), .text(""), .text("http_path"),
        ]])
    }

    @Test("a later request under the same key is its own row (a reused 5-tuple); no Content-Length is NULL", arguments: StoreKind.allCases)
    func firstRequestKept(kind: StoreKind) throws {
        let fixture = try StoreUnderTest(kind)
        let store = try fixture.open()
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Self.request(at: Events.at(1))], into: &dedup), node: "n1", run: run)
        // A request under the same key in a later batch: another connection from the same
        // port, stored apart; the first row keeps its detail.
        var second = Events.session(at: Events.at(2), service: .http, family: "rustock")
        second.httpMethod = BoundedBytes("GET")
        second.httpPath = BoundedBytes("/second")
        try store.write(fold([second], into: &dedup), node: "n1", run: run)
        let probe = try fixture.probe()
        #expect(try probe.rows("SELECT http_method, count FROM checkins ORDER BY first_seen")
                == [[.text("POST"), .integer(1)], [.text("GET"), .integer(1)]])
        var tcp = Events.session(at: Events.at(5), service: .tcp, sourcePort: 41_000, family: "")
        tcp.firstBytes = BoundedBytes([0x16, 0x03, 0x01])
        try store.write(fold([tcp], into: &dedup), node: "n1", run: run)
        let hex = kind == .sqlite ? "hex(first_bytes)" : "upper(encode(first_bytes, 'hex'))"
        #expect(try probe.rows("SELECT \(hex), http_content_length IS NULL, http_method FROM checkins WHERE src_port = 41000")
                == [[.text("160301"), .integer(1), .text("")]])
    }

    @Test("three requests on one keep-alive connection, over two batches, are three rows with their own paths; a packet joins the first")
    func oneRowPerRequest() throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path())
        defer { store.close() }
        let run = try store.beginRun(node: "n1", startedAt: Events.at(0))
        var dedup = Deduplicator(sessionWindowSeconds: 120)
        try store.write(fold([Events.request(0, at: Events.at(1), path: "/one"), Events.request(1, at: Events.at(2), path: "/two")],
                             into: &dedup), node: "n1", run: run)
        try store.write(fold([Events.request(2, at: Events.at(3), path: "/three"),
                              Events.session(at: Events.at(4), service: .packet, family: "")], into: &dedup),
                        node: "n1", run: run)
        let probe = try DatabaseProbe(dir)
        #expect(try probe.rows("SELECT http_path, count, src_port, substr(event_id, 17) FROM checkins ORDER BY first_seen") == [
            [.text("/one"), .integer(2), .integer(40_000), .text("-tcp-203.0.113.7-40000-198.51.100.10-80")],
            [.text("/two"), .integer(1), .integer(40_000), .text("-tcp-203.0.113.7-40000-198.51.100.10-80-1")],
            [.text("/three"), .integer(1), .integer(40_000), .text("-tcp-203.0.113.7-40000-198.51.100.10-80-2")],
        ])
        #expect(try probe.rows("SELECT count FROM infections") == [[.integer(3)]])
    }
}
