import NIOCore
import NIOHTTP1
import SinkholeCore

/// Every response the HTTP responder sends, rendered once at start: the configured answer to
/// bots, the page for browsers, the 100 Continue and the status of each limit. Per request only
/// the `Date`, `Connection` and `Content-Length` lines are written around them.
public struct HTTPResponses: Sendable {
    /// What bots and browsers are answered with (`http.response` in the configuration).
    public struct Configuration: Sendable, Hashable {
        /// The status of every answered request (200–599).
        public var status: Int
        /// Extra header fields, in order (validated by the configuration: tokens for names,
        /// no CR, LF or NUL in values; none of the fields the responder writes itself).
        public var headers: [Header]
        /// The body bots get (the bytes of `http.response.body_file`); empty by default.
        public var body: [UInt8]
        /// The text of the page a browser gets; HTML-escaped into a fixed page.
        public var browserText: String

        public struct Header: Sendable, Hashable {
            public var name: String
            public var value: String
            public init(name: String, value: String) {
                self.name = name
                self.value = value
            }
        }

        /// A short neutral notice: it says what happened without naming the operator, which a
        /// configuration can add.
        public static let defaultBrowserText =
            "This domain has been sinkholed: it was used to control malicious software and is now operated to protect the computers that still contact it."

        public init(status: Int = 200, headers: [Header] = [], body: [UInt8] = [],
                    browserText: String = Configuration.defaultBrowserText) {
            self.status = status
            self.headers = headers
            self.body = body
            self.browserText = browserText
        }

        /// Header fields the responder writes itself, refused in `headers`.
        public static let reservedHeaders: Set<String> = ["content-length", "connection", "transfer-encoding", "date"]
    }

    /// Whether the connection stays open, as the response says it.
    public enum Connection: Sendable {
        /// HTTP/1.1 default: no `Connection` field.
        case persistent
        /// HTTP/1.0 client that asked for keep-alive: `Connection: keep-alive`.
        case keepAlive
        /// `Connection: close`; the connection closes after the response.
        case close
    }

    let botHead: ByteBuffer
    let botBody: ByteBuffer
    let browserHead: ByteBuffer
    let browserBody: ByteBuffer
    /// The configured status: it is what the check-in records.
    public let status: UInt16
    let rejections: [HTTPRejection: ByteBuffer]
    let continueResponse: ByteBuffer
    /// RFC 9110 §6.4.1: 204 and 304 never carry content.
    let statusHasBody: Bool

    public init(_ configuration: Configuration) {
        let allocator = ByteBufferAllocator()
        func statusLine(_ code: Int) -> String {
            let phrase = HTTPResponseStatus(statusCode: code).reasonPhrase
            return "HTTP/1.1 \(code) \(phrase.isEmpty ? "Status" : phrase)\r\n"
        }
        var bot = statusLine(configuration.status)
        for header in configuration.headers { bot += "\(header.name): \(header.value)\r\n" }
        botHead = allocator.buffer(string: bot)
        botBody = allocator.buffer(bytes: configuration.body)
        browserHead = allocator.buffer(string: statusLine(configuration.status)
            + configuration.headers.filter { $0.name.lowercased() != "content-type" }.map { "\($0.name): \($0.value)\r\n" }.joined()
            + "Content-Type: text/html; charset=utf-8\r\n")
        browserBody = allocator.buffer(string: Self.page(configuration.browserText))
        status = UInt16(configuration.status)
        statusHasBody = configuration.status != 204 && configuration.status != 304
        var rejections: [HTTPRejection: ByteBuffer] = [:]
        for rejection in HTTPRejection.allCases {
            rejections[rejection] = allocator.buffer(string: statusLine(Int(rejection.rawValue)))
        }
        self.rejections = rejections
        continueResponse = allocator.buffer(string: "HTTP/1.1 100 Continue\r\n\r\n")
    }

    /// The answer to a complete request.
    public func write(answering request: HTTPRequest, connection: Connection, date: ByteBuffer,
                      into buffer: inout ByteBuffer) {
        let browser = request.acceptsHTML
        var head = browser ? browserHead : botHead
        let body = browser ? browserBody : botBody
        buffer.writeBuffer(&head)
        write(date: date, connection: connection, contentLength: statusHasBody ? body.readableBytes : nil, into: &buffer)
        if statusHasBody && !request.isHEAD {
            var body = body
            buffer.writeBuffer(&body)
        }
    }

    /// The status line and empty body of a refusal; the connection closes after it.
    public func write(rejecting rejection: HTTPRejection, date: ByteBuffer, into buffer: inout ByteBuffer) {
        // Every case is rendered in init.
        guard var head = rejections[rejection] else { return }
        buffer.writeBuffer(&head)
        write(date: date, connection: .close, contentLength: 0, into: &buffer)
    }

    /// `HTTP/1.1 100 Continue` (RFC 9110 §15.2.1).
    public func writeContinue(into buffer: inout ByteBuffer) {
        var response = continueResponse
        buffer.writeBuffer(&response)
    }

    private func write(date: ByteBuffer, connection: Connection, contentLength: Int?, into buffer: inout ByteBuffer) {
        var date = date
        buffer.writeBuffer(&date)
        switch connection {
        case .persistent: break
        case .keepAlive: buffer.writeStaticString("Connection: keep-alive\r\n")
        case .close: buffer.writeStaticString("Connection: close\r\n")
        }
        if let contentLength {
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(contentLength))
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }

    /// The browser page: the configured text, escaped, in a minimal HTML5 document.
    static func page(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Sinkholed domain</title></head>
        <body><p>\(escaped)</p></body></html>

        """
    }

    /// `Date: <IMF-fixdate>\r\n` for `time` (RFC 9110 §5.6.7, §6.6.1).
    public static func dateLine(_ time: UTCTime) -> String {
        var buffer = ByteBuffer()
        writeDateLine(time, into: &buffer)
        return buffer.readString(length: buffer.readableBytes) ?? ""
    }

    /// Writes `dateLine(time)`'s 37 bytes. Rendered per connection (each caches it for the
    /// second), so with `Connection: close` once per request: bytes from fixed tables, not
    /// string interpolation (that cost ~8,500 instructions a connection).
    public static func writeDateLine(_ time: UTCTime, into buffer: inout ByteBuffer) {
        let c = time.civil
        let days = (time.seconds - Int64(c.hour * 3600 + c.minute * 60 + c.second)) / 86_400
        let weekday = Int(((days % 7) + 7) % 7) * 3  // 1970-01-01 was a Thursday
        let month = (c.month - 1) * 3
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 37) { out in
            var i = 0
            func put(_ byte: UInt8) {
                out[i] = byte
                i += 1
            }
            func digits(_ value: Int, _ count: Int) {
                var divisor = 1
                for _ in 1..<count { divisor *= 10 }
                for _ in 0..<count {
                    put(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
                    divisor /= 10
                }
            }
            for byte in "Date: ".utf8 { put(byte) }
            weekdayNames.withUTF8Buffer { for k in weekday..<(weekday + 3) { put($0[k]) } }
            put(UInt8(ascii: ","))
            put(UInt8(ascii: " "))
            digits(c.day, 2)
            put(UInt8(ascii: " "))
            monthNames.withUTF8Buffer { for k in month..<(month + 3) { put($0[k]) } }
            put(UInt8(ascii: " "))
            digits(c.year, 4)
            put(UInt8(ascii: " "))
            digits(c.hour, 2)
            put(UInt8(ascii: ":"))
            digits(c.minute, 2)
            put(UInt8(ascii: ":"))
            digits(c.second, 2)
            for byte in " GMT\r\n".utf8 { put(byte) }
            return i
        }
    }

    private static let weekdayNames: StaticString = "ThuFriSatSunMonTueWed"
    private static let monthNames: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
}
