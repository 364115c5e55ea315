import SinkholeCore

/// An incremental HTTP/1 request parser for one connection: bytes in, one `Outcome` at a time.
///
/// Ours rather than NIOHTTP1's decoder (llhttp): the sinkhole must answer each limit with its
/// own status (414 for the target, 431 for the head, 413 after discarding a body), tell bytes
/// that are not HTTP at all from a malformed request, and keep only bounded fields — no
/// `String` or header array per request. It is strict where leniency lets requests be
/// smuggled (RFC 9112 §6.3, §11.2: `Content-Length` with `Transfer-Encoding`, a final coding
/// other than chunked, differing lengths, bad chunk sizes, CR or NUL inside a field are all
/// 400) and lenient where a bot's sloppiness is harmless (no `Host`, bare LF line ends, any
/// method token), since every bot should keep checking in.
///
/// The parser knows nothing of sockets; `HTTPServerHandler` feeds it and answers.
public struct HTTPRequestParser: Sendable {
    /// Per-request limits.
    public struct Limits: Sendable, Hashable {
        /// Request line, header fields and the blank line (nginx and Apache allow 8 KiB per
        /// line; 16 KiB in all leaves room for the cookies of a browser that strays here).
        public var headBytes = 16 * 1024
        /// The request target (RFC 9112 §3 recommends supporting at least 8000 octets).
        public var targetBytes = 8 * 1024
        /// Bodies up to this size are read and answered normally.
        public var bodyBytes = 1024 * 1024
        /// Beyond `bodyBytes`, up to this many more bytes are read and discarded before the
        /// 413, so the client is reading when the answer comes rather than getting a reset.
        public var discardBytes = 1024 * 1024
        /// How much of the body goes into the SHA-256 digest.
        public var digestBytes = 16 * 1024

        public init(headBytes: Int = 16 * 1024, targetBytes: Int = 8 * 1024, bodyBytes: Int = 1024 * 1024,
                    discardBytes: Int = 1024 * 1024, digestBytes: Int = 16 * 1024) {
            self.headBytes = headBytes
            self.targetBytes = targetBytes
            self.bodyBytes = bodyBytes
            self.discardBytes = discardBytes
            self.digestBytes = digestBytes
        }
    }

    /// What `consume` stopped at.
    public enum Outcome: Sendable, Hashable {
        /// Every byte given was consumed; the request is not complete.
        case needMoreBytes
        /// The head asked for `Expect: 100-continue` and a body is coming: send `100 Continue`.
        case continueExpected
        /// A whole request (head and body) is in `request`.
        case request
        /// The request is refused with this status; the connection should close after it.
        case rejected(HTTPRejection)
        /// The connection's first bytes are not an HTTP/1 request line (TLS, SSH, HTTP/2, binary).
        case notHTTP
    }

    public let limits: Limits
    /// The request being read, or the last one completed.
    public private(set) var request = HTTPRequest()
    /// Requests completed on this connection.
    public private(set) var completedRequests = 0

    private enum State: UInt8 {
        case start, method, target, version, requestLineLF
        case headerStart, headerName, headerValue, headerValueCR, headLF
        case fixedBody, chunkSize, chunkExtension, chunkSizeLF, chunkData, chunkDataCR, chunkDataLF
        case trailerStart, trailerLine, trailerLineLF, trailerEndLF
        case finished
    }

    private enum Field: UInt8 {
        case other, host, userAgent, referer, forwardedFor, contentLength, transferEncoding, connection, accept, expect
    }

    private var state = State.start
    private var headBytes = 0
    private var methodLength = 0
    private var targetLength = 0
    private var versionIndex = 0
    private var name = BoundedBytes<32>()
    private var field = Field.other
    private var seenFields: UInt16 = 0
    /// Lowercased value of a framing or negotiation field, read when its line ends.
    private var scratch = BoundedBytes<256>()
    /// Whitespace inside a value, written only once a non-whitespace byte follows, so
    /// trailing whitespace (not part of the value, RFC 9110 §5.5) is never stored.
    private var pendingWhitespace = BoundedBytes<32>()
    private var valueStarted = false
    private var transferEncodingSeen = false
    private var finalCodingChunked = false
    private var chunkedCodings = 0
    private var connectionClose = false
    private var connectionKeepAlive = false
    private var expectContinue = false
    private var remaining: Int64 = 0
    private var chunkDigits = 0
    private var extensionBytes = 0
    private var trailerBytes = 0
    private var overLimit = false
    private var hasher = SHA256Hasher()

    /// Fields of which only the first occurrence counts.
    private static let firstOnlyFields: UInt16 = [Field.host, .userAgent, .referer, .forwardedFor, .accept, .expect]
        .reduce(0) { $0 | 1 << $1.rawValue }

    /// Chunk extensions are skipped; more than this on one chunk line is refused (RFC 9112
    /// §7.1.1 lets a server limit them).
    static let maximumExtensionBytes = 4096

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Bytes of a message have arrived and the message is not complete.
    public var inMessage: Bool { state != .start && state != .finished }
    /// The request line and header fields are still arriving (the header deadline runs).
    public var inHead: Bool { state.rawValue >= State.method.rawValue && state.rawValue <= State.headLF.rawValue }
    /// The head is complete and the body (chunks and trailers included) is still arriving
    /// (the body deadline runs).
    public var inBody: Bool { state.rawValue > State.headLF.rawValue && state != .finished }
    /// The bytes are HTTP, whatever comes next: the request line was read whole, or its
    /// method was followed by a target too long to read (414).
    public private(set) var isHTTP = false

    /// Reads from `bytes[index...]` until a request is complete, refused, or the bytes run
    /// out; `index` is left after the last byte consumed. After `.request`, the next call
    /// starts the next (pipelined) request. After `.rejected` or `.notHTTP` nothing more is
    /// consumed.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> Outcome {
        while index < bytes.count {
            switch state {
            case .fixedBody, .chunkData:
                // Bodies in bulk: only the digested prefix is touched byte by byte.
                // Never past the discard cap: the bytes after it are left unread.
                let cap = Int64(limits.bodyBytes) + Int64(limits.discardBytes) - request.bodyBytes
                let take = Int(min(remaining, Int64(bytes.count - index), max(cap, 0)))
                if let outcome = body(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])) {
                    index += take
                    return outcome
                }
                index += take
                remaining -= Int64(take)
                if remaining == 0 {
                    if state == .chunkData {
                        state = .chunkDataCR
                    } else if let outcome = endOfMessage() {
                        return outcome
                    }
                }
            case .finished:
                return .needMoreBytes
            default:
                let byte = bytes[index]
                index += 1
                if let outcome = step(byte) { return outcome }
            }
        }
        return .needMoreBytes
    }

    // MARK: - Head

    private mutating func step(_ byte: UInt8) -> Outcome? {
        if state.rawValue <= State.headLF.rawValue {
            headBytes += 1
            // The target's own limit is checked first: a long target is a 414, not a 431.
            if headBytes > limits.headBytes && !(state == .target && targetLength >= limits.targetBytes) {
                return reject(.headerFieldsTooLarge)
            }
        }
        switch state {
        case .start:
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            if byte == cr || byte == lf { return nil }
            beginMessage()
            state = .method
            return step(byte)
        case .method:
            if byte == space {
                guard methodLength > 0 else { return notRequestLine() }
                state = .target
            } else if isTokenByte(byte) && methodLength < 32 {
                methodLength += 1
                request.method.append(byte)
            } else {
                return notRequestLine()
            }
        case .target:
            if byte == space {
                guard targetLength > 0 else { return notRequestLine() }
                state = .version
            } else if byte > space && byte != 0x7f {
                targetLength += 1
                if targetLength > limits.targetBytes {
                    isHTTP = true
                    return reject(.uriTooLong)
                }
                request.target.append(byte)
            } else {
                return notRequestLine()
            }
        case .version:
            // "HTTP/1." then one digit (RFC 9112 §2.3); HTTP/2's preface and HTTP/0.9 fail here.
            if versionIndex < 7 {
                guard byte == httpSlashOne[versionIndex] else { return notRequestLine() }
                versionIndex += 1
            } else if versionIndex == 7 {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return notRequestLine() }
                request.version = 10 + min(byte - UInt8(ascii: "0"), 1)
                isHTTP = true
                versionIndex += 1
            } else if byte == cr {
                state = .requestLineLF
            } else if byte == lf {
                state = .headerStart
            } else {
                return notRequestLine()
            }
        case .requestLineLF:
            guard byte == lf else { return notRequestLine() }
            state = .headerStart
        case .headerStart:
            if byte == cr {
                state = .headLF
            } else if byte == lf {
                return endOfHead()
            } else if isTokenByte(byte) {
                name = BoundedBytes()
                name.append(lowercased(byte))
                state = .headerName
            } else {
                // Whitespace here is obs-fold or a smuggling attempt (RFC 9112 §5.2, §2.2).
                return reject(.badRequest)
            }
        case .headerName:
            if byte == UInt8(ascii: ":") {
                beginValue()
            } else if isTokenByte(byte) {
                name.append(lowercased(byte))
            } else {
                // Including whitespace before the colon (RFC 9112 §5.1: 400).
                return reject(.badRequest)
            }
        case .headerValue:
            if byte == lf { return endOfField() }
            if byte == cr {
                state = .headerValueCR
            } else if byte == space || byte == tab {
                if valueStarted { pendingWhitespace.append(byte) }
            } else {
                appendValue(byte)
                // RFC 9110 §5.5: NUL in a value is rejected (kept in the evidence first).
                if byte == 0 { return reject(.badRequest) }
            }
        case .headerValueCR:
            if byte == lf { return endOfField() }
            // A bare CR inside a value: stored as received, then refused (RFC 9110 §5.5).
            appendValue(cr)
            appendValue(byte)
            return reject(.badRequest)
        case .headLF:
            guard byte == lf else { return reject(.badRequest) }
            return endOfHead()
        case .chunkSize:
            if let digit = hexValue(byte) {
                // 15 hex digits are 2^60 bytes: more is an overflow attempt.
                guard chunkDigits < 15 else { return reject(.badRequest) }
                chunkDigits += 1
                remaining = remaining << 4 | Int64(digit)
            } else if chunkDigits == 0 {
                return reject(.badRequest)
            } else if byte == UInt8(ascii: ";") || byte == space || byte == tab {
                state = .chunkExtension
            } else if byte == cr {
                state = .chunkSizeLF
            } else if byte == lf {
                return endOfChunkSize()
            } else {
                return reject(.badRequest)
            }
        case .chunkExtension:
            if byte == cr {
                state = .chunkSizeLF
            } else if byte == lf {
                return endOfChunkSize()
            } else {
                extensionBytes += 1
                if extensionBytes > Self.maximumExtensionBytes || byte == 0 { return reject(.badRequest) }
            }
        case .chunkSizeLF:
            guard byte == lf else { return reject(.badRequest) }
            return endOfChunkSize()
        case .chunkDataCR:
            if byte == cr {
                state = .chunkDataLF
            } else if byte == lf {
                beginChunk()
            } else {
                return reject(.badRequest)
            }
        case .chunkDataLF:
            guard byte == lf else { return reject(.badRequest) }
            beginChunk()
        case .trailerStart, .trailerLine, .trailerLineLF, .trailerEndLF:
            // Trailers are read and dropped, bounded like the head.
            trailerBytes += 1
            if trailerBytes > limits.headBytes { return reject(.headerFieldsTooLarge) }
            return trailer(byte)
        case .fixedBody, .chunkData, .finished:
            preconditionFailure("bodies are consumed in bulk")
        }
        return nil
    }

    private mutating func trailer(_ byte: UInt8) -> Outcome? {
        switch state {
        case .trailerStart:
            if byte == cr {
                state = .trailerEndLF
            } else if byte == lf {
                return endOfMessage()
            } else {
                state = .trailerLine
            }
        case .trailerLine:
            if byte == cr {
                state = .trailerLineLF
            } else if byte == lf {
                state = .trailerStart
            } else if byte == 0 {
                return reject(.badRequest)
            }
        case .trailerLineLF:
            guard byte == lf else { return reject(.badRequest) }
            state = .trailerStart
        default:
            guard byte == lf else { return reject(.badRequest) }
            return endOfMessage()
        }
        return nil
    }

    private mutating func beginMessage() {
        request = HTTPRequest()
        isHTTP = false
        headBytes = 0
        methodLength = 0
        targetLength = 0
        versionIndex = 0
        seenFields = 0
        transferEncodingSeen = false
        finalCodingChunked = false
        chunkedCodings = 0
        connectionClose = false
        connectionKeepAlive = false
        expectContinue = false
        remaining = 0
        chunkDigits = 0
        extensionBytes = 0
        trailerBytes = 0
        overLimit = false
        hasher = SHA256Hasher()
    }

    private mutating func beginValue() {
        switch name.count {
        case 4 where equals(name, "host"): field = .host
        case 10 where equals(name, "user-agent"): field = .userAgent
        case 7 where equals(name, "referer"): field = .referer
        case 15 where equals(name, "x-forwarded-for"): field = .forwardedFor
        case 14 where equals(name, "content-length"): field = .contentLength
        case 17 where equals(name, "transfer-encoding"): field = .transferEncoding
        case 10 where equals(name, "connection"): field = .connection
        case 6 where equals(name, "accept"): field = .accept
        case 6 where equals(name, "expect"): field = .expect
        default: field = .other
        }
        if name.truncated { field = .other }
        // The first of a repeated evidence field is kept; framing fields are checked whole.
        let bit: UInt16 = 1 << field.rawValue
        if seenFields & bit & Self.firstOnlyFields != 0 {
            field = .other
        }
        seenFields |= bit
        scratch = BoundedBytes()
        pendingWhitespace = BoundedBytes()
        valueStarted = false
        state = .headerValue
    }

    private mutating func appendValue(_ byte: UInt8) {
        valueStarted = true
        if !pendingWhitespace.isEmpty {
            let pending = pendingWhitespace
            pendingWhitespace = BoundedBytes()
            pending.withBytes { for b in $0 { appendValueByte(b) } }
        }
        appendValueByte(byte)
    }

    private mutating func appendValueByte(_ byte: UInt8) {
        switch field {
        case .other: break
        case .host: request.host.append(byte)
        case .userAgent: request.userAgent.append(byte)
        case .referer: request.referer.append(byte)
        case .forwardedFor: request.forwardedFor.append(byte)
        default: scratch.append(lowercased(byte))
        }
    }

    private mutating func endOfField() -> Outcome? {
        request.headerCount += 1
        state = .headerStart
        switch field {
        case .contentLength:
            // Digits only (RFC 9110 §8.6); a list, a sign or an overflow is refused, and so
            // is a second Content-Length that differs from the first (RFC 9112 §6.3).
            guard !scratch.truncated, scratch.count > 0, scratch.count <= 18,
                  scratch.withBytes({ $0.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } })
            else { return reject(.badRequest) }
            let value = scratch.withBytes { $0.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) } }
            if request.contentLength >= 0 && request.contentLength != value { return reject(.badRequest) }
            request.contentLength = value
        case .transferEncoding:
            guard !scratch.truncated else { return reject(.badRequest) }
            transferEncodingSeen = true
            var last: ArraySlice<UInt8> = []
            for coding in scratch.bytes.split(separator: UInt8(ascii: ",")) {
                let trimmed = trim(coding)
                if trimmed.isEmpty { continue }
                if trimmed.elementsEqual("chunked".utf8) { chunkedCodings += 1 }
                last = trimmed
            }
            if !last.isEmpty { finalCodingChunked = last.elementsEqual("chunked".utf8) }
        case .connection:
            for option in scratch.bytes.split(separator: UInt8(ascii: ",")) {
                let trimmed = trim(option)
                if trimmed.elementsEqual("close".utf8) { connectionClose = true }
                if trimmed.elementsEqual("keep-alive".utf8) { connectionKeepAlive = true }
            }
        case .accept:
            // Read in place: `scratch.bytes` would be a new array per request.
            request.acceptsHTML = scratch.withBytes { contains($0, "text/html") }
        case .expect:
            expectContinue = trim(scratch.bytes[...]).elementsEqual("100-continue".utf8)
        default:
            break
        }
        return nil
    }

    private mutating func endOfHead() -> Outcome? {
        request.keepAlive = request.version >= 11 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        if transferEncodingSeen {
            // RFC 9112 §6.1–6.3: both framings at once is the classic smuggling request;
            // HTTP/1.0 has no transfer codings; chunked must be the final coding, once.
            guard request.contentLength < 0, request.version >= 11, finalCodingChunked, chunkedCodings == 1
            else { return reject(.badRequest) }
            return startBody { $0.beginChunk() }
        }
        if request.contentLength > 0 {
            return startBody { parser in
                parser.remaining = parser.request.contentLength
                parser.state = .fixedBody
            }
        }
        return endOfMessage()
    }

    private mutating func startBody(_ begin: (inout HTTPRequestParser) -> Void) -> Outcome? {
        begin(&self)
        if expectContinue && request.version >= 11 {
            // The client waits before sending a body it already says is too large: refuse now.
            if request.contentLength > Int64(limits.bodyBytes) { return reject(.contentTooLarge) }
            return .continueExpected
        }
        return nil
    }

    // MARK: - Body

    private mutating func beginChunk() {
        remaining = 0
        chunkDigits = 0
        extensionBytes = 0
        state = .chunkSize
    }

    private mutating func endOfChunkSize() -> Outcome? {
        if remaining == 0 {
            state = .trailerStart
        } else {
            state = .chunkData
        }
        return nil
    }

    /// Counts and digests body bytes; refuses once the discard cap is reached.
    private mutating func body(_ bytes: UnsafeRawBufferPointer) -> Outcome? {
        let digestRoom = limits.digestBytes - hasher.count
        if digestRoom > 0 { hasher.update(UnsafeRawBufferPointer(rebasing: bytes.prefix(digestRoom))) }
        request.bodyBytes += Int64(bytes.count)
        if request.bodyBytes > Int64(limits.bodyBytes) {
            overLimit = true
            if request.bodyBytes >= Int64(limits.bodyBytes) + Int64(limits.discardBytes) {
                return reject(.contentTooLarge)
            }
        }
        return nil
    }

    private mutating func endOfMessage() -> Outcome? {
        if overLimit { return reject(.contentTooLarge) }
        if request.bodyBytes > 0 { request.bodyDigest = BoundedBytes(hasher.finalize()) }
        completedRequests += 1
        headBytes = 0
        state = .start
        return .request
    }

    private mutating func reject(_ rejection: HTTPRejection) -> Outcome {
        if request.bodyBytes > 0 { request.bodyDigest = BoundedBytes(hasher.finalize()) }
        state = .finished
        return .rejected(rejection)
    }

    /// A request line that does not parse: on a connection's first request the bytes are not
    /// HTTP at all; after a good request it is a malformed one.
    private mutating func notRequestLine() -> Outcome {
        if completedRequests == 0 {
            state = .finished
            return .notHTTP
        }
        return reject(.badRequest)
    }
}

// MARK: - Bytes

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let httpSlashOne: [UInt8] = Array("HTTP/1.".utf8)

/// RFC 9110 §5.6.2 tchar.
private func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
         UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
         UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

private func lowercased(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5a ? b | 0x20 : b }

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
    default: nil
    }
}

private func equals<let n: Int>(_ value: BoundedBytes<n>, _ text: StaticString) -> Bool {
    value.withBytes { bytes in
        text.withUTF8Buffer { bytes.elementsEqual($0) }
    }
}

private func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var slice = bytes
    while let first = slice.first, first == space || first == tab { slice = slice.dropFirst() }
    while let last = slice.last, last == space || last == tab { slice = slice.dropLast() }
    return slice
}

private func contains(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
    needle.withUTF8Buffer { needle in
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}
