import NIOCore
import SinkholeCore

/// Serves DNS over TCP on one connection, behind a `DNSTCPFrameDecoder`: each message goes
/// through a `DNSResponder` (TCP size limit), the reply goes back with its two-byte length
/// prefix (RFC 7766 §8), and one `CheckIn` per message goes into this event loop's ring.
///
/// Pipelined queries (RFC 7766 §6.2.1.1) are answered in the order they came, each written as
/// it is decoded and all flushed once in `channelReadComplete`, so a burst read in one go
/// leaves in one batch of syscalls, as on the UDP path.
///
/// The connection is closed when:
/// - a message has begun arriving and is not complete within `readTimeout` (RFC 7766 §10:
///   a peer dripping bytes must not hold a connection);
/// - no message arrives for `idleTimeout` (RFC 7766 §6.2.3: idle timeouts of the order of
///   seconds);
/// - a zero-length frame arrives (there is no message to answer);
/// - the listener's `DNSTCPConnections` is full of busy connections when it opens, or picks
///   it as the longest idle to make room for a newcomer.
/// A message that gets no reply (QR set, a runt) is logged and the connection stays open.
public final class DNSTCPHandler: ChannelInboundHandler {
    public typealias InboundIn = DNSTCPFrame
    public typealias OutboundOut = ByteBuffer

    /// Per-connection time limits.
    public struct Configuration: Sendable, Hashable {
        /// How long the rest of a message may take once its first byte has arrived.
        public var readTimeout: TimeAmount
        /// How long a connection may stay open with no message in progress.
        public var idleTimeout: TimeAmount

        /// One second to finish a message (a DNS query is one or two segments; only a
        /// slowloris needs longer) and ten seconds idle, near what Unbound and BIND use.
        public init(readTimeout: TimeAmount = .seconds(1), idleTimeout: TimeAmount = .seconds(10)) {
            self.readTimeout = readTimeout
            self.idleTimeout = idleTimeout
        }
    }

    /// What the handler has seen, for metrics. Read on the channel's event loop.
    public struct Counts: Sendable, Hashable {
        /// Messages read (each produced exactly one check-in offer to the ring).
        public var queries = 0
        /// Replies written.
        public var replies = 0
        /// Check-ins the ring refused because it was full (the ring counts them too).
        public var ringDrops = 0
        public var readTimeouts = 0
        public var idleTimeouts = 0
        public var emptyFrames = 0
    }

    public private(set) var counts = Counts()

    private var responder: DNSResponder
    private let ring: EventRing<CheckIn>
    private let configuration: Configuration
    private let connections: DNSTCPConnections?
    private let clock: @Sendable () -> UTCTime
    private var slot: DNSTCPConnections.Slot?
    private var source: (address: IPAddress, port: UInt16) = (.zero, 0)
    private var destination: (address: IPAddress, port: UInt16) = (.zero, 0)
    private var needsFlush = false
    /// A message completed in this read burst: the connection's idle time restarts.
    private var completedMessage = false
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var readTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?

    /// - Parameters:
    ///   - ring: the ring of the event loop this handler runs on; only that loop pushes to it.
    ///   - connections: the listener's connection table, or nil for no limit (tests).
    ///   - clock: the wall clock for check-ins, injected so tests control time. Timeouts run
    ///     on the event loop's own clock (`EmbeddedEventLoop.advanceTime(by:)` in tests).
    public init(
        responder: DNSResponder, ring: EventRing<CheckIn>,
        configuration: Configuration = Configuration(), connections: DNSTCPConnections? = nil,
        clock: @escaping @Sendable () -> UTCTime = UTCTime.now
    ) {
        self.responder = responder
        self.ring = ring
        self.configuration = configuration
        self.connections = connections
        self.clock = clock
    }

    public func channelActive(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        if let connections {
            guard let admitted = connections.admit(context.channel, now: now) else {
                // Counted by the table; closed before anything is read.
                context.close(promise: nil)
                return
            }
            slot = admitted
        }
        source = context.channel.remoteAddress?.sinkholeEndpoint ?? (.zero, 0)
        destination = context.channel.localAddress?.sinkholeEndpoint ?? (.zero, 0)
        lastActivity = now
        scheduleIdleCheck(context: context, at: now + configuration.idleTimeout)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .started:
            guard readTimer == nil else { return }
            slot?.markBusy()
            readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.readTimeout) {
                self.readTimer = nil
                self.counts.readTimeouts += 1
                context.close(promise: nil)
            }
        case .message(let message):
            readTimer?.cancel()
            readTimer = nil
            completedMessage = true
            answer(message, context: context)
        case .empty:
            counts.emptyFrames += 1
            // Replies to the messages before it still go out, then the connection ends.
            context.flush()
            needsFlush = false
            context.close(promise: nil)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        if completedMessage {
            completedMessage = false
            // Once per read burst, not per message: one clock read and one relaxed store.
            lastActivity = context.eventLoop.now
            if readTimer == nil { slot?.markIdle(since: lastActivity) }
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
        // A reset or a broken pipe ends this connection only; nothing is logged per peer.
        context.close(promise: nil)
    }

    private func answer(_ message: ByteBuffer, context: ChannelHandlerContext) {
        counts.queries += 1
        var checkIn = CheckIn(
            time: clock(),
            source: source.address, sourcePort: source.port,
            destination: destination.address, destinationPort: destination.port,
            transport: .tcp, service: .dns
        )
        var reply = context.channel.allocator.buffer(capacity: 2 + DNSResponse.udpSizeLimit)
        reply.writeInteger(UInt16(0))  // the length prefix, filled in below
        if responder.respond(to: message, into: &reply, checkIn: &checkIn, transport: .tcp) {
            // The responder bounds a TCP reply to 65535 bytes (RFC 1035 §4.2.2), so it fits.
            reply.setInteger(UInt16(truncatingIfNeeded: reply.readableBytes - 2), at: reply.readerIndex)
            context.write(wrapOutboundOut(reply), promise: nil)
            counts.replies += 1
            needsFlush = true
        }
        // On a full ring this waits while the writer drains (the event loop's other
        // connections wait too; UDP has its own threads), and drops only a stalled writer's.
        if !ring.pushWaitingForConsumer(checkIn) { counts.ringDrops += 1 }
    }

    /// The idle check reschedules itself from the last activity rather than being re-armed
    /// per query, which would cost a timer allocation on the hot path.
    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let now = context.eventLoop.now
            let due = self.lastActivity + self.configuration.idleTimeout
            if self.readTimer != nil {
                // A message is in progress: the read timeout governs it.
                self.scheduleIdleCheck(context: context, at: now + self.configuration.idleTimeout)
            } else if now >= due {
                self.idleTimer = nil
                self.counts.idleTimeouts += 1
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context: context, at: due)
            }
        }
    }

    private func stop() {
        readTimer?.cancel()
        readTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        if let slot {
            connections?.release(slot)
            self.slot = nil
        }
    }
}

@available(*, unavailable)
extension DNSTCPHandler: Sendable {}
