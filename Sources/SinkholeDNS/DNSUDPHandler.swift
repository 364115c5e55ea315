import NIOCore
import SinkholeCore

/// Serves DNS over UDP: each datagram goes through a `DNSResponder`, the reply goes back to
/// the sender, and one `CheckIn` per datagram goes into this event loop's `EventRing`.
///
/// Replies are written in `channelRead` and flushed once in `channelReadComplete`, so a burst
/// of datagrams read in one loop tick leaves in one batch of syscalls (as NIO's UDP echo server).
/// Nothing is thrown or logged per packet: bad packets are the responder's FORMERR or silence,
/// and the counts here are for metrics.
public final class DNSUDPHandler: ChannelInboundHandler {
    public typealias InboundIn = AddressedEnvelope<ByteBuffer>
    public typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// What the handler has seen, for metrics. Read on the channel's event loop.
    public struct Counts: Sendable, Hashable {
        /// Datagrams read (each produced exactly one check-in offer to the ring).
        public var datagrams = 0
        /// Replies written.
        public var replies = 0
        /// Check-ins the ring refused because it was full (the ring counts them too).
        public var ringDrops = 0
        /// Replies not sent because the socket's write queue was full.
        public var unsentReplies = 0
        /// Errors the channel reported (e.g. ICMP errors surfaced on the socket).
        public var channelErrors = 0
    }

    public private(set) var counts = Counts()

    private var responder: DNSResponder
    private let ring: EventRing<CheckIn>
    private var localAddress: IPAddress
    private var localPort: UInt16
    private let clock: @Sendable () -> UTCTime
    private var needsFlush = false

    /// - Parameters:
    ///   - ring: the ring of the event loop this handler runs on; only that loop pushes to it.
    ///   - localAddress, localPort: the listening address, recorded as the destination when
    ///     the datagram carries no packet info (`ChannelOptions.receivePacketInfo` off, or a
    ///     platform without it). With a wildcard listener, turn packet info on to record which
    ///     address a bot really queried.
    ///   - clock: the wall clock, injected so tests control time.
    public init(
        responder: DNSResponder, ring: EventRing<CheckIn>,
        localAddress: IPAddress, localPort: UInt16,
        clock: @escaping @Sendable () -> UTCTime = UTCTime.now
    ) {
        self.responder = responder
        self.ring = ring
        self.localAddress = localAddress
        self.localPort = localPort
        self.clock = clock
    }

    /// Takes the bound address from the socket once it is active: a listener configured with
    /// port 0 gets its real port here, so check-ins never record destination port 0.
    public func channelActive(context: ChannelHandlerContext) {
        if let bound = context.channel.localAddress?.sinkholeEndpoint {
            localAddress = bound.address
            localPort = bound.port
        }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        counts.datagrams += 1
        let source = envelope.remoteAddress.sinkholeEndpoint ?? (.zero, 0)
        let destination = envelope.metadata?.packetInfo?.destinationAddress.sinkholeEndpoint
        var checkIn = CheckIn(
            time: clock(),
            source: source.address, sourcePort: source.port,
            destination: destination?.address ?? localAddress,
            // Packet info carries the address, not the port (the port is the socket's).
            destinationPort: destination.map { $0.port == 0 ? localPort : $0.port } ?? localPort,
            transport: .udp, service: .dns
        )
        var reply = context.channel.allocator.buffer(capacity: DNSResponse.udpSizeLimit)
        if responder.respond(to: envelope.data, into: &reply, checkIn: &checkIn) {
            // A socket that stops taking writes (EAGAIN under a flood) would otherwise queue
            // replies in memory without bound; the query is still logged.
            guard context.channel.isWritable else {
                counts.unsentReplies += 1
                if !ring.push(checkIn) { counts.ringDrops += 1 }
                return
            }
            let out = AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)
            context.write(wrapOutboundOut(out), promise: nil)
            counts.replies += 1
            needsFlush = true
        }
        if !ring.push(checkIn) { counts.ringDrops += 1 }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Takes a reloaded responder (`DNSResponderUpdate`); other events pass on.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let update = event as? DNSResponderUpdate {
            responder = update.responder
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket stays useful after an error (one bot's ICMP unreachable must not stop
        // the service), so count it and keep the channel open.
        counts.channelErrors += 1
    }
}

@available(*, unavailable)
extension DNSUDPHandler: Sendable {}
