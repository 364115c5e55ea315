import NIOCore
import SinkholeCore
import SinkholeDNS

/// The UDP workers of the DNS listeners (`DNSService`).
typealias DNSUDPWorker = UDPWorker<DNSDatagramHandler>

/// DNS over UDP for a `UDPWorker`: each datagram is answered through the worker's own
/// `DNSUDPExchange` with the responder in force, subject to response rate limiting.
///
/// The responder is refreshed between batches when a reload bumps `LiveResponder.generation`,
/// so a batch is answered wholly by one set of seized names. Rate limiting applies per worker:
/// SO_REUSEPORT spreads one client's queries over the workers only when its source port
/// changes, so a client (or a spoofed victim) gets at most the rate per worker it reaches.
struct DNSDatagramHandler: DatagramHandler {
    static var replyCapacity: Int { DNSUDPExchange.replyCapacity }

    private let live: LiveResponder
    private var generation: UInt64
    private var exchange: DNSUDPExchange

    init(live: LiveResponder, rateLimit: ResponseRateLimiter.Settings) {
        self.live = live
        let (responder, generation) = live.current()
        self.generation = generation
        exchange = DNSUDPExchange(responder: responder, rateLimit: rateLimit)
    }

    mutating func refresh() {
        // Acquire pairs with the release in `LiveResponder.publish`.
        if live.generation.load(ordering: .acquiring) != generation {
            (exchange.responder, generation) = live.current()
        }
    }

    mutating func handle(_ index: Int, of batch: DatagramBatch, on socket: UDPListenSocket,
                         datagram: ByteBuffer, checkIn: inout CheckIn) -> Bool {
        exchange.answer(datagram, checkIn: &checkIn)
    }

    var reply: ByteBuffer { exchange.reply }

    var rateLimitCounts: ResponseRateLimiter.Counts { exchange.limiter.counts }
}

extension UDPWorker where Handler == DNSDatagramHandler {
    /// A DNS worker answering with `live`'s responder, rate limited by `rateLimit`.
    convenience init(name: String, sockets: [Socket], ring: EventRing<CheckIn>, live: LiveResponder,
                     rateLimit: ResponseRateLimiter.Settings, progress: ProgressGate? = nil) {
        self.init(name: name, sockets: sockets, ring: ring, progress: progress) {
            DNSDatagramHandler(live: live, rateLimit: rateLimit)
        }
    }
}
