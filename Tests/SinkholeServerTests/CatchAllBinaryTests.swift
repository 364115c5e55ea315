import CSQLite
import Foundation
import Testing

/// The catch-all listeners of the built binary over loopback: raw TCP connections and UDP
/// datagrams sent to the listeners' own ports (nothing redirected: see
/// `CatchAllNamespaceTests` for that), then every stored row read back field by field.
@Suite("sinkhole run: catch-all end to end", .serialized)
struct CatchAllBinaryTests {
    /// Every column the catch-all fills, in this order.
    static let columns = ["service", "transport", "family", "src_ip", "dst_ip", "dst_port", "listener_port", "redirected",
                          "hex(first_bytes)", "truncated", "count", "name", "http_method", "src_port > 0", "first_seen > 0"]

    /// The row of the one check-in from `source`, every column as text.
    static func row(_ database: String, source: String) throws -> [String: String] {
        let rows = try sqliteRows(database, "SELECT \(columns.joined(separator: ", ")) FROM checkins WHERE src_ip = '\(source)'")
        try #require(rows.count == 1, "rows from \(source): \(rows)")
        return Dictionary(uniqueKeysWithValues: zip(columns, rows[0]))
    }

    @Test("TCP with bytes, with none (idle timeout), beyond read_bytes, on a seized address; a UDP datagram unanswered: each stored with its first bytes")
    func catchAll() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dnsPort = try freeLoopbackPort()
        let port = try freeLoopbackPort()
        let config = directory.appendingPathComponent("sinkhole.yaml").path
        // 127.0.0.2 stands for a seized C&C address: check-ins that reach it are its family's.
        try """
        node: catchall-node
        families:
          - name: seized
            addresses: [127.0.0.2]
        dns:
          listen: ["127.0.0.1:\(dnsPort)"]
        http:
          listen: []
          tls_listen: []
        catch_all:
          tcp: ["127.0.0.1:\(port)", "127.0.0.2:\(port)"]
          udp: ["127.0.0.1:\(port)"]
          read_bytes: 16
          idle_timeout_s: 1
        writer: {batch_size: 64, flush_interval_ms: 100}
        store:
          sqlite: checkins.db
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let sinkhole = try SinkholeProcess(arguments: ["run", "--config", config], directory: directory)
        defer { sinkhole.terminate() }
        try sinkhole.waitUntilReady()
        #expect(sinkhole.stderr.contains("catch-all listener bound"))
        #expect(!sinkhole.stderr.contains("catch_all, feeds"), "no longer reported as not started:\n\(sinkhole.stderr)")

        let started = ContinuousClock.now
        // Exactly read_bytes: logged and closed at once, without waiting for the idle timeout.
        let exact = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.21")
        try exact.send(Array("SSH-2.0-bot_1.0\n".utf8))
        #expect(exact.closedByPeer())
        #expect(ContinuousClock.now - started < .milliseconds(900), "closed on read_bytes, not on the idle timeout")

        // Nothing sent: closed by the idle timeout (1 s), still a check-in.
        let silentStart = ContinuousClock.now
        let silent = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.22")
        #expect(silent.closedByPeer())
        #expect(ContinuousClock.now - silentStart >= .milliseconds(900))

        // More than read_bytes: the first 16 kept and marked cut.
        let long = (0..<40).map { UInt8($0) }
        let beyond = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.23")
        try beyond.send(long)
        #expect(beyond.closedByPeer())

        // A few bytes, then the bot closes its side: logged with what came.
        let partial = try TCPClient(port: port, receiveTimeoutSeconds: 5, from: "127.0.0.24", to: "127.0.0.2")
        try partial.send([0x16, 0x03, 0x01])
        partial.shutdownWrite()
        #expect(partial.closedByPeer())

        // UDP: stored, never answered.
        let peer = try LoopbackPeer("127.0.0.25")
        peer.send(Array("\u{0}\u{1}ping".utf8), to: "127.0.0.1", port: port)
        #expect(peer.receive(timeoutMilliseconds: 1000) == nil, "the catch-all must never answer UDP")

        #expect(sinkhole.terminate() == 0, "\(sinkhole.stderr)")
        let db = directory.appendingPathComponent("checkins.db").path

        let e = try Self.row(db, source: "127.0.0.21")
        #expect(e["service"] == "tcp" && e["transport"] == "tcp" && e["family"] == "" && e["count"] == "1")
        #expect(e["dst_ip"] == "127.0.0.1" && e["dst_port"] == "\(port)" && e["listener_port"] == "\(port)")
        #expect(e["redirected"] == "0" && e["truncated"] == "" && e["name"] == "" && e["http_method"] == "")
        #expect(e["hex(first_bytes)"] == HTTPBinaryTests.hex(Array("SSH-2.0-bot_1.0\n".utf8)))
        #expect(e["src_port > 0"] == "1" && e["first_seen > 0"] == "1")

        let s = try Self.row(db, source: "127.0.0.22")
        #expect(s["service"] == "tcp" && s["hex(first_bytes)"] == "" && s["truncated"] == "" && s["listener_port"] == "\(port)")

        let b = try Self.row(db, source: "127.0.0.23")
        #expect(b["hex(first_bytes)"] == HTTPBinaryTests.hex(Array(long.prefix(16))) && b["truncated"] == "first_bytes")

        let p = try Self.row(db, source: "127.0.0.24")
        #expect(p["dst_ip"] == "127.0.0.2" && p["family"] == "seized" && p["hex(first_bytes)"] == "160301")

        let u = try Self.row(db, source: "127.0.0.25")
        #expect(u["service"] == "udp" && u["transport"] == "udp" && u["dst_ip"] == "127.0.0.1")
        #expect(u["dst_port"] == "\(port)" && u["listener_port"] == "\(port)" && u["redirected"] == "0")
        #expect(u["hex(first_bytes)"] == HTTPBinaryTests.hex(Array("\u{0}\u{1}ping".utf8)) && u["truncated"] == "")

        // The seized address's check-in is infection evidence; the unlabelled ones are not.
        #expect(try sqliteRows(db, "SELECT family, src_ip, count FROM infections") == [["seized", "127.0.0.24", "1"]])
        #expect(try sqliteRows(db, "SELECT offered = stored, dropped FROM runs") == [["1", "0"]])
    }
}
