import NIOCore
import SinkholeCore

/// What the UDP transport does with one datagram, apart from the socket: answer it with the
/// responder in force, subject to response rate limiting, and fill the DNS part of its `CheckIn`.
///
/// Pure and reusable: the reply is written into one buffer kept across datagrams, so a worker
/// answering a flood allocates nothing per query once the buffer has grown to a reply's size.
public struct DNSUDPExchange {
    /// The responder answering; a reload replaces it between batches.
    public var responder: DNSResponder
    /// The rate limiter's accounts, kept across reloads (a reload must not refill a flooder).
    public private(set) var limiter: ResponseRateLimiter
    /// The reply to the last datagram `answer` said to send. Read it before the next call.
    public private(set) var reply: ByteBuffer
    /// The buffer each question name is read into. The name read from one datagram is
    /// released before `answer` returns, so the next datagram's name reuses this capacity
    /// instead of allocating (see `DNSWireReader.readName(reusing:)`).
    private var nameStorage: [UInt8]

    public init(responder: DNSResponder, rateLimit: ResponseRateLimiter.Settings,
                allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.responder = responder
        limiter = ResponseRateLimiter(rateLimit)
        reply = allocator.buffer(capacity: Self.replyCapacity)
        nameStorage = []
        nameStorage.reserveCapacity(DNSName.maximumWireLength)
    }

    /// The largest UDP reply the responder writes (RFC 6891 §6.2.5: the server's own limit
    /// bounds what it sends, whatever the client advertised).
    public static let replyCapacity = Int(EDNSRecord.serverPayloadSize)

    /// Answers `datagram`, filling `checkIn`'s name, type, rcode, family and rate-limit flag
    /// (its source and time must be set: the limiter accounts by them). Returns true when
    /// `reply` holds an answer to send, false when nothing must be sent.
    public mutating func answer(_ datagram: ByteBuffer, checkIn: inout CheckIn) -> Bool {
        reply.clear()
        return responder.respond(to: datagram, into: &reply, checkIn: &checkIn, limiter: &limiter,
                                 nameStorage: &nameStorage)
    }
}
