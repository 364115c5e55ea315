import SinkholeCore
import SinkholeHTTP
import Testing

@Suite("TLS hello reader: records, client and server hellos, every truncation and lie")
struct TLSHelloTests {
    typealias F = TLSHelloFixtures

    static func clientHello(_ bytes: [UInt8]) throws -> TLSClientHello {
        guard case .message(1, let body) = TLSHello.scan(bytes) else {
            Issue.record("no client hello in \(bytes.count) bytes: \(TLSHello.scan(bytes))")
            throw CancellationError()
        }
        return try TLSClientHello(parsing: body)
    }

    @Test("OpenSSL's hello: SNI, every suite in order, TLS 1.3 offered, the SCSV left out of what is logged")
    func openSSLHello() throws {
        #expect(F.openSSLClientHello.count == 323)
        let hello = try Self.clientHello(F.openSSLClientHello)
        #expect(hello.serverName.text == "cc.botnet.example" && !hello.serverName.truncated)
        #expect(hello.legacyVersion == 0x0303 && hello.supportedVersions == [0x0304, 0x0303, 0x0302, 0x0301])
        #expect(hello.cipherSuites == F.openSSLSuites)
        #expect(hello.offeredVersion == 0x0304)
        #expect(hello.offeredCipherSuites == Array(F.openSSLSuites.dropLast()))
        let detail = TLSDetail(hello: hello, family: BoundedBytes("example"), at: UTCTime(microseconds: 7))
        #expect(detail.offeredCipher == 0x1302 && detail.offeredCipherCount == 30 && detail.offeredVersion == 0x0304)
    }

    @Test("GREASE values are not the preferred suite, not counted and not the offered version (RFC 8701)")
    func grease() throws {
        let body = F.clientHelloBody(suites: [0x2a2a, 0x1301, 0x1302, 0x00ff], extensions: [
            F.ext(0x1a1a, []), F.serverNameExtension("x.evil.example"),
            F.supportedVersionsExtension([0x7a7a, 0x0304, 0x0303]),
        ])
        let hello = try Self.clientHello(F.records(body))
        #expect(hello.cipherSuites == [0x2a2a, 0x1301, 0x1302, 0x00ff])
        #expect(hello.offeredCipherSuites == [0x1301, 0x1302] && hello.offeredVersion == 0x0304)
        #expect(hello.serverName.text == "x.evil.example")
        for value: UInt16 in [0x0a0a, 0x1a1a, 0xfafa] { #expect(TLSHello.isGREASE(value)) }
        for value: UInt16 in [0x0a1a, 0x1301, 0x0aab, 0xabab] { #expect(!TLSHello.isGREASE(value)) }
    }

    @Test("a TLS 1.0 hello without extensions: legacy version offered, no SNI")
    func noExtensions() throws {
        let hello = try Self.clientHello(F.records(F.clientHelloBody(version: 0x0301, suites: [0x0005, 0x000a], extensions: nil)))
        #expect(hello.offeredVersion == 0x0301 && hello.serverName.isEmpty && hello.supportedVersions.isEmpty)
        #expect(hello.offeredCipherSuites == [0x0005, 0x000a])
    }

    @Test("a hello split over records of every size from 1 byte is reassembled (RFC 8446 §5.1)")
    func fragmented() throws {
        let body = Array(F.openSSLClientHello[9...])
        for size in [1, 2, 3, 7, 100, 316] {
            let hello = try Self.clientHello(F.records(body, recordSize: size))
            #expect(hello.serverName.text == "cc.botnet.example" && hello.cipherSuites == F.openSSLSuites, "records of \(size)")
        }
    }

    @Test("a long SNI is kept whole up to 255 bytes and marked truncated beyond")
    func longServerName() throws {
        let long = String(repeating: "a", count: 63) + "." + String(repeating: "b", count: 300)
        let hello = try Self.clientHello(F.records(F.clientHelloBody(suites: [0x1301], extensions: [F.serverNameExtension(long)])))
        #expect(hello.serverName.count == 255 && hello.serverName.truncated)
        var checkIn = CheckIn(time: UTCTime(microseconds: 1), source: .zero, sourcePort: 1, destination: .zero,
                              destinationPort: 443, transport: .tcp, service: .http)
        TLSDetail(hello: hello, family: BoundedBytes(), at: UTCTime(microseconds: 1)).fill(&checkIn)
        #expect(checkIn.tlsServerName.count == CheckIn.Limits.tlsServerName && checkIn.tlsServerName.truncated)
        #expect(checkIn.service == .tls && checkIn.name.count == 255)
    }

    @Test("every prefix of a hello is 'need more bytes', never a hello, never a trap")
    func everyTruncation() throws {
        let whole = F.openSSLClientHello
        for length in 0..<whole.count {
            #expect(TLSHello.scan(Array(whole.prefix(length))) == .needMoreBytes, "prefix \(length)")
        }
        // A body cut anywhere is a bad hello (it claims more than it has), except right before
        // the extensions: a hello may end there (RFC 5246 §7.4.1.2).
        let body = Array(whole[9...])
        let extensionsStart = 2 + 32 + 1 + 32 + 2 + 62 + 1 + 1
        #expect(try TLSClientHello(parsing: Array(body.prefix(extensionsStart))).serverName.isEmpty)
        for length in 0..<body.count where length != extensionsStart {
            #expect(throws: TLSHelloError.badHello, "body prefix \(length)") { try TLSClientHello(parsing: Array(body.prefix(length))) }
        }
    }

    @Test("lying lengths: every byte of a hello set to 0x00, 0x01, 0x7f, 0xff, one at a time; nothing traps")
    func lyingLengths() {
        let whole = F.openSSLClientHello
        var outcomes: [String: Int] = [:]
        for index in whole.indices {
            for value: UInt8 in [0x00, 0x01, 0x7f, 0xff] {
                var bytes = whole
                bytes[index] = value
                let scan = TLSHello.scan(bytes)
                if case .message(1, let body) = scan {
                    let parsed = try? TLSClientHello(parsing: body)
                    outcomes[parsed == nil ? "bad hello" : "hello", default: 0] += 1
                } else {
                    outcomes["\(scan)", default: 0] += 1
                }
                // The server side reader takes any body too.
                _ = try? TLSServerHello(parsing: Array(bytes[9...]))
            }
        }
        #expect(outcomes["notTLS"] ?? 0 > 0 && outcomes["bad hello"] ?? 0 > 0 && outcomes["hello"] ?? 0 > 0, "\(outcomes)")
    }

    @Test("pseudo-random bytes after a valid record header never trap", arguments: 0..<8)
    func randomBodies(seed: Int) {
        var state = UInt64(seed) &* 0x9e37_79b9_7f4a_7c15 | 1
        for length in stride(from: 0, through: 600, by: 7) {
            var bytes: [UInt8] = [0x16, 0x03, 0x01] + F.u16(length) + [0x01] + F.u16(0) + [UInt8(length & 0xff)]
            for _ in 0..<length {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                bytes.append(UInt8(truncatingIfNeeded: state))
            }
            if case .message(_, let body) = TLSHello.scan(bytes) {
                _ = try? TLSClientHello(parsing: body)
                _ = try? TLSServerHello(parsing: body)
            }
        }
    }

    @Test("not TLS: HTTP, an SSH banner, an HTTP/2 preface, an SSLv2-format hello, a lone byte")
    func notTLS() {
        for bytes: [UInt8] in [Array("GET / HTTP/1.1\r\n".utf8), Array("SSH-2.0-OpenSSH_9.2\r\n".utf8),
                               Array("PRI * HTTP/2.0\r\n".utf8), [0x80, 0x2e, 0x01, 0x03, 0x01], [0x00],
                               [0x16, 0x02, 0x00]] {
            #expect(TLSHello.scan(bytes) == .notTLS, "\(bytes)")
        }
        #expect(TLSHello.scan([0x16]) == .needMoreBytes)
        #expect(TLSHello.scan([]) == .needMoreBytes)
    }

    @Test("broken records: zero or oversized length, an alert before the hello is whole, an endless hello")
    func brokenRecords() {
        #expect(TLSHello.scan([0x16, 0x03, 0x01, 0x00, 0x00]) == .malformed(.badRecordLength))
        #expect(TLSHello.scan([0x16, 0x03, 0x01, 0x40, 0x01]) == .malformed(.badRecordLength))
        let first = Array(F.records(Array(F.openSSLClientHello[9...]), recordSize: 100).prefix(105))
        #expect(TLSHello.scan(first + [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]) == .malformed(.interleavedRecord))
        // A hello claiming 16 MiB, sent in full records: refused once the scan bound is passed.
        let claim: [UInt8] = [0x01, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 16_380)
        let endless = [0x16, 0x03, 0x01, 0x40, 0x00] + claim
        #expect(TLSHello.scan(endless) == .malformed(.tooLarge))
        // A hello of 32 KiB in full records: two fit the scan bound, the third does not.
        let full = [0x16, 0x03, 0x01, 0x40, 0x00] + [0x01, 0x00, 0x7f, 0xff] + [UInt8](repeating: 1, count: 16_380)
        let more = [0x16, 0x03, 0x01, 0x40, 0x00] + [UInt8](repeating: 1, count: 16_384)
        #expect(TLSHello.scan(full + more) == .needMoreBytes)
        #expect(TLSHello.scan(full + more + [0x16, 0x03, 0x01, 0x40, 0x00]) == .malformed(.tooLarge))
    }

    @Test("bad hello fields: odd suite length, no compression method, trailing bytes, a lying extension")
    func badFields() {
        var body = F.clientHelloBody(suites: [0x1301], extensions: nil)
        body[36] = 3  // suites length 3
        #expect(throws: TLSHelloError.badHello) { try TLSClientHello(parsing: body) }
        var noCompression = F.u16(0x0303) + [UInt8](repeating: 0, count: 32) + [0] + F.u16(2) + F.u16(0x1301)
        noCompression += [0]
        #expect(throws: TLSHelloError.badHello) { try TLSClientHello(parsing: noCompression) }
        let trailing = F.clientHelloBody(suites: [0x1301], extensions: [F.serverNameExtension("a.example")]) + [0]
        #expect(throws: TLSHelloError.badHello) { try TLSClientHello(parsing: trailing) }
        let lying = F.clientHelloBody(suites: [0x1301], extensions: [[0x00, 0x00, 0x00, 0x09, 0x00, 0x07, 0x00, 0x00, 0x09]])
        #expect(throws: TLSHelloError.badHello) { try TLSClientHello(parsing: lying) }
    }

    @Test("server hellos: TLS 1.3 from supported_versions, TLS 1.2 from legacy_version")
    func serverHello() throws {
        guard case .message(2, let body13) = TLSHello.scan(F.records(type: 2, F.serverHelloBody(suite: 0x1301, version13: true))) else {
            Issue.record("no server hello")
            return
        }
        #expect(try TLSServerHello(parsing: body13) == TLSServerHello(version: 0x0304, cipherSuite: 0x1301))
        let body12 = F.serverHelloBody(suite: 0xc02b, version13: false)
        #expect(try TLSServerHello(parsing: body12) == TLSServerHello(version: 0x0303, cipherSuite: 0xc02b))
        // Cut anywhere but right after the compression byte (a valid extension-less hello).
        for length in 0..<body13.count where length != 38 {
            #expect(throws: TLSHelloError.badHello, "prefix \(length)") { try TLSServerHello(parsing: Array(body13.prefix(length))) }
        }
    }
}
