import SinkholeCore
import SinkholeHTTP
import Testing

/// What feeding bytes to a parser produced: each outcome other than `needMoreBytes`, with
/// the request as it stood then.
struct Parsed {
    var outcomes: [HTTPRequestParser.Outcome] = []
    var requests: [HTTPRequest] = []
    var consumed = 0
}

/// Feeds `bytes` in pieces of `piece` bytes (1 = drip-fed), stopping at a refusal.
func parse(_ bytes: [UInt8], piece: Int = .max, limits: HTTPRequestParser.Limits = .init()) -> Parsed {
    var parser = HTTPRequestParser(limits: limits)
    var parsed = Parsed()
    var start = 0
    feeding: while start < bytes.count {
        let end = min(bytes.count, start + min(piece, bytes.count - start))
        let chunk = Array(bytes[start..<end])
        var index = 0
        while index < chunk.count {
            let outcome = chunk.withUnsafeBytes { parser.consume($0, at: &index) }
            if outcome == .needMoreBytes { break }
            parsed.outcomes.append(outcome)
            parsed.requests.append(parser.request)
            if case .rejected = outcome { parsed.consumed += index; break feeding }
            if outcome == .notHTTP { parsed.consumed += index; break feeding }
        }
        parsed.consumed += index
        start = end
    }
    return parsed
}

func parse(_ text: String, piece: Int = .max, limits: HTTPRequestParser.Limits = .init()) -> Parsed {
    parse(Array(text.utf8), piece: piece, limits: limits)
}

func text<let n: Int>(_ value: BoundedBytes<n>) -> String { value.text }

@Suite("HTTP/1 request parser")
struct HTTPRequestParserTests {
    static let browserGET = "GET /gate.php?id=42&v=1 HTTP/1.1\r\nHost: WWW.Evil.Example:8080\r\n"
        + "User-Agent: Mozilla/4.0 (compatible)\r\nReferer: http://a.example/\r\n"
        + "X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\nAccept: text/html,application/xhtml+xml\r\n\r\n"

    @Test("a request's evidence fields are kept as received, whole or drip-fed", arguments: [1, 7, Int.max])
    func fields(piece: Int) throws {
        let parsed = parse(Self.browserGET, piece: piece)
        #expect(parsed.outcomes == [.request])
        let r = try #require(parsed.requests.first)
        #expect(text(r.method) == "GET")
        #expect(text(r.target) == "/gate.php?id=42&v=1")
        #expect(text(r.host) == "WWW.Evil.Example:8080")
        #expect(text(r.userAgent) == "Mozilla/4.0 (compatible)")
        #expect(text(r.referer) == "http://a.example/")
        #expect(text(r.forwardedFor) == "198.51.100.1, 203.0.113.9")
        #expect(r.version == 11 && r.headerCount == 5 && r.contentLength == -1 && r.bodyBytes == 0)
        #expect(r.acceptsHTML && r.keepAlive && r.bodyDigest.isEmpty)
    }

    @Test("a POST body is counted and its SHA-256 taken, with Content-Length or chunked", arguments: [1, 5, Int.max])
    func bodies(piece: Int) throws {
        let body: [UInt8] = [0, 1, 2, 0xff, 13, 10, 27] + Array("tail".utf8)
        let fixed = Array("POST /up HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        let chunked = Array("POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n4;ext=1\r\n".utf8) + body[0..<4]
            + Array("\r\n7\r\n".utf8) + body[4...] + Array("\r\n0\r\nX-Trailer: 1\r\n\r\n".utf8)
        for bytes in [fixed, chunked] {
            let parsed = parse(bytes, piece: piece)
            #expect(parsed.outcomes == [.request])
            let r = try #require(parsed.requests.first)
            #expect(r.bodyBytes == Int64(body.count))
            #expect(r.bodyDigest.bytes == SHA256Hasher.hash(body))
            #expect(r.headerCount == 1)
        }
    }

    @Test("only the first digestBytes of a body go into the digest")
    func digestPrefix() throws {
        let body = [UInt8](repeating: 0x41, count: 100)
        let parsed = parse(Array("PUT / HTTP/1.1\r\nContent-Length: 100\r\n\r\n".utf8) + body,
                           limits: .init(digestBytes: 10))
        #expect(parsed.requests.first?.bodyDigest.bytes == SHA256Hasher.hash(body.prefix(10)))
        #expect(parsed.requests.first?.bodyBytes == 100)
    }

    @Test("pipelined requests come out one at a time, in order, each whole")
    func pipelined() {
        let stream = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + "\r\nHEAD /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        for piece in [1, 3, Int.max] {
            let parsed = parse(stream, piece: piece)
            #expect(parsed.outcomes == [.request, .request, .request])
            #expect(parsed.requests.map { text($0.target) } == ["/1", "/2", "/3"])
            #expect(parsed.requests.map(\.keepAlive) == [true, true, true])
            #expect(parsed.requests[2].isHEAD && parsed.requests[2].version == 10)
        }
    }

    @Test("keep-alive follows the version and the Connection field", arguments: [
        ("GET / HTTP/1.1\r\n\r\n", true), ("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false),
        ("GET / HTTP/1.0\r\n\r\n", false), ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", false),
    ])
    func keepAlive(request: String, keepAlive: Bool) {
        #expect(parse(request).requests.first?.keepAlive == keepAlive)
    }

    @Test("odd methods, bare LF line ends, no Host and leading empty lines are all accepted")
    func lenient() throws {
        let parsed = parse("\r\n\r\nBREW /pot HTTP/1.1\nUser-Agent:  spaced  out \t \n\n")
        #expect(parsed.outcomes == [.request])
        let r = try #require(parsed.requests.first)
        #expect(text(r.method) == "BREW" && r.host.isEmpty)
        #expect(text(r.userAgent) == "spaced  out")
    }

    @Test("ESC and bytes over 0x7F in a field are stored as received; a bare CR or NUL is stored, then refused")
    func controlBytes() throws {
        let esc = parse(Array("GET / HTTP/1.1\r\nUser-Agent: \u{1b}[31mred\u{1b}[0m \u{ff}\r\n\r\n".utf8))
        #expect(esc.outcomes == [.request])
        #expect(esc.requests.first?.userAgent.bytes == Array("\u{1b}[31mred\u{1b}[0m \u{ff}".utf8))
        let bareCR = parse("GET / HTTP/1.1\r\nUser-Agent: a\rInjected: b\r\n\r\n")
        #expect(bareCR.outcomes == [.rejected(.badRequest)])
        #expect(text(bareCR.requests[0].userAgent) == "a\rI")
        let nul = parse(Array("GET / HTTP/1.1\r\nUser-Agent: a".utf8) + [0] + Array("b\r\n\r\n".utf8))
        #expect(nul.outcomes == [.rejected(.badRequest)])
        #expect(nul.requests[0].userAgent.bytes == [UInt8(ascii: "a"), 0])
    }

    @Test("smuggling and framing errors are refused with 400", arguments: [
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\n X: a\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
    ])
    func smuggling(request: String) {
        #expect(parse(request).outcomes == [.rejected(.badRequest)], "\(request.debugDescription)")
    }

    @Test("the same request, when not first on the connection, is refused rather than taken as not HTTP")
    func malformedAfterGood() {
        #expect(parse("GET / HTTP/1.1\r\n\r\nSSH-2.0-x\r\n").outcomes == [.request, .rejected(.badRequest)])
    }

    @Test("a target over its limit is a 414, a head over its limit a 431, whatever the piece size", arguments: [1, 1000, Int.max])
    func headLimits(piece: Int) {
        let longTarget = "GET /" + String(repeating: "a", count: 8 * 1024) + " HTTP/1.1\r\n\r\n"
        #expect(parse(longTarget, piece: piece).outcomes == [.rejected(.uriTooLong)])
        let exactTarget = "GET " + String(repeating: "a", count: 8 * 1024) + " HTTP/1.1\r\n\r\n"
        #expect(parse(exactTarget, piece: piece).outcomes == [.request])
        let bigHead = "GET / HTTP/1.1\r\nCookie: " + String(repeating: "c", count: 100 * 1024) + "\r\n\r\n"
        let refused = parse(bigHead, piece: piece)
        #expect(refused.outcomes == [.rejected(.headerFieldsTooLarge)])
        // Refused at the limit, not after reading the whole 100 KiB.
        #expect(refused.consumed == 16 * 1024 + 1)
        let manyHeaders = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 3000) + "\r\n"
        #expect(parse(manyHeaders, piece: piece).outcomes == [.rejected(.headerFieldsTooLarge)])
        let bigTrailers = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + String(repeating: "t", count: 20_000) + "\r\n\r\n"
        #expect(parse(bigTrailers, piece: piece).outcomes == [.rejected(.headerFieldsTooLarge)])
    }

    @Test("a body over the limit is read and discarded up to the cap, then refused with 413")
    func bodyLimit() {
        let limits = HTTPRequestParser.Limits(bodyBytes: 100, discardBytes: 50)
        // Within the limit: answered.
        #expect(parse("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + String(repeating: "x", count: 100), limits: limits)
                .outcomes == [.request])
        // Over the limit but ending within the cap: read whole, then 413.
        let over = parse("POST / HTTP/1.1\r\nContent-Length: 120\r\n\r\n" + String(repeating: "x", count: 120), limits: limits)
        #expect(over.outcomes == [.rejected(.contentTooLarge)])
        #expect(over.requests.first?.bodyBytes == 120)
        // Far over: refused once limit + cap bytes are read, the rest never consumed.
        let head = "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"
        let far = parse(head + String(repeating: "x", count: 100_000), limits: limits)
        #expect(far.outcomes == [.rejected(.contentTooLarge)])
        #expect(far.requests.first?.bodyBytes == 150 && far.consumed == head.utf8.count + 150)
        // Chunked bodies count the same way.
        let chunks = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "10\r\n" + String(repeating: "y", count: 16) + "\r\n", count: 20) + "0\r\n\r\n"
        #expect(parse(chunks, piece: 3, limits: limits).outcomes == [.rejected(.contentTooLarge)])
    }

    @Test("Expect: 100-continue asks for a Continue before the body, or is refused at once when too large")
    func expectContinue() {
        let parsed = parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        #expect(parsed.outcomes == [.continueExpected, .request])
        let tooLarge = parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n")
        #expect(tooLarge.outcomes == [.rejected(.contentTooLarge)])
    }

    @Test("bytes that are not HTTP/1 are told apart at once", arguments: [
        [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03],
        Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8),
        Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8),
        [0x00, 0x00, 0x00, 0x00],
        Array("GET /\r\n".utf8),
        Array("GET / HTTP/1.1 extra\r\n\r\n".utf8),
        Array(repeating: UInt8(ascii: "A"), count: 100),
        Array("GET  / HTTP/1.1\r\n\r\n".utf8),
    ] as [[UInt8]])
    func notHTTP(bytes: [UInt8]) {
        #expect(parse(bytes).outcomes == [.notHTTP], "\(bytes)")
        #expect(parse(bytes, piece: 1).outcomes == [.notHTTP], "\(bytes)")
    }

    @Test("a value longer than its bound is kept cut and marked truncated")
    func truncation() throws {
        let ua = String(repeating: "u", count: 300)
        let target = "/" + String(repeating: "p", count: 600)
        let r = try #require(parse("GET \(target) HTTP/1.1\r\nUser-Agent: \(ua)\r\n\r\n").requests.first)
        #expect(r.userAgent.count == 256 && r.userAgent.truncated)
        #expect(r.target.count == 512 && r.target.truncated)
    }

    @Test("every truncation of a valid request only ever waits for more bytes")
    func truncations() {
        let full = Array((Self.browserGET.dropLast(1) + "Content-Length: 5\r\n\r\nhello").utf8)
        for length in 0..<full.count {
            #expect(parse(Array(full.prefix(length))).outcomes.isEmpty, "prefix \(length)")
        }
        #expect(parse(full).outcomes == [.request])
    }
}
