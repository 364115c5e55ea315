import SinkholeCore

/// What the sinkhole keeps of one HTTP/1 request: the evidence fields, bounded as in
/// `CheckIn.Limits` and kept as received, and what answering it needs.
public struct HTTPRequest: Sendable {
    public var method = BoundedBytes<16>()
    /// The request target (path with query, or an absolute URI sent to a proxy), as received.
    public var target = BoundedBytes<512>()
    /// The first `Host` header's value as received, port included.
    public var host = BoundedBytes<255>()
    public var userAgent = BoundedBytes<256>()
    public var referer = BoundedBytes<256>()
    public var forwardedFor = BoundedBytes<128>()
    /// `major * 10 + minor`: 10 for HTTP/1.0, 11 for HTTP/1.1; 0 before the request line ends.
    public var version: UInt8 = 0
    /// Header fields in the head (trailers not counted).
    public var headerCount = 0
    /// The declared `Content-Length`, or -1 when none was declared.
    public var contentLength: Int64 = -1
    /// Body bytes read so far, discarded ones included.
    public var bodyBytes: Int64 = 0
    /// SHA-256 of the first `Limits.digestBytes` bytes of the body; empty for no body.
    public var bodyDigest = BoundedBytes<32>()
    /// `Accept` names `text/html`: a browser, which gets the sinkhole's page.
    public var acceptsHTML = false
    /// The connection stays open after the response (HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`).
    public var keepAlive = false

    public init() {}

    /// `HEAD`: the response carries no body (RFC 9110 §9.3.2).
    public var isHEAD: Bool {
        method.count == 4 && method.withBytes { $0.elementsEqual("HEAD".utf8) }
    }

    /// The request's detail copied into a check-in (`name` takes the Host).
    public func fill(_ checkIn: inout CheckIn) {
        checkIn.name = host
        checkIn.httpMethod = method
        checkIn.httpPath = target
        checkIn.httpUserAgent = userAgent
        checkIn.httpReferer = referer
        checkIn.httpForwardedFor = forwardedFor
        checkIn.httpVersion = version
        checkIn.httpHeaderCount = UInt16(clamping: headerCount)
        checkIn.httpContentLength = contentLength
        checkIn.httpBodyBytes = bodyBytes
        checkIn.httpBodyDigest = bodyDigest
    }
}

/// Why a request was refused: the status answered before the connection is closed.
public enum HTTPRejection: UInt16, Sendable, Hashable, CaseIterable {
    /// Malformed framing or syntax: `Content-Length` with `Transfer-Encoding`, a bad chunk
    /// size, a field with CR or NUL in it (RFC 9112 §6.3, RFC 9110 §5.5).
    case badRequest = 400
    /// The header deadline passed before the head was complete, or the body deadline before
    /// the body was.
    case requestTimeout = 408
    /// The body went past the limit (read and discarded up to a cap first).
    case contentTooLarge = 413
    /// The request target is over its limit (RFC 9110 §15.5.15).
    case uriTooLong = 414
    /// The request head, or the trailers, are over their limit (RFC 6585 §5).
    case headerFieldsTooLarge = 431
}
