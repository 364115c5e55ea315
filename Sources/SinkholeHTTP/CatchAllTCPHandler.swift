import NIOCore
import SinkholeCore
import SinkholeDNS

/// Serves one connection to a catch-all TCP listener (`catch_all.tcp`), where an nftables
/// redirect brings every port of the sinkhole and seized addresses that no responder serves.
///
/// Nothing is answered: the connection is read until `readBytes` bytes have arrived, nothing
/// has arrived for `idleTimeout`, or the peer closes, then logged as one `CheckIn` of service
/// `tcp` with its first bytes, and closed. A connection that sends nothing is a check-in too
/// (the bot connected: that is the evidence), logged when the idle timeout closes it.
///
/// The check-in's destination is the one the bot dialled, recovered from the kernel by the
/// listener (`original`), and its time is the connection's: the moment the bot reached the
/// sinkhole, not the moment the sinkhole stopped waiting for it.
public final class CatchAllTCPHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    /// Per-connection limits.
    public struct Configuration: Sendable, Hashable {
        /// Bytes awaited before the check-in is logged (0 to `CheckIn.Limits.firstBytes`;
        /// 0 logs and closes on connect).
        public var readBytes: Int
        /// With no bytes arriving for this long, the check-in is logged with what came.
        public var idleTimeout: TimeAmount

        public init(readBytes: Int = CheckIn.Limits.firstBytes, idleTimeout: TimeAmount = .seconds(5)) {
            self.readBytes = readBytes
            self.idleTimeout = idleTimeout
        }
    }

    /// What the handler has seen, for metrics and tests. Read on the channel's event loop.
    public struct Counts: Sendable, Hashable {
        public var checkIns = 0
        public var idleTimeouts = 0
        /// Check-ins the ring refused because it was full (the ring counts them too).
        public var ringDrops = 0
    }

    public private(set) var counts = Counts()

    private var reader: CatchAllReader
    private let targets: SeizedTargets
    private let ring: EventRing<CheckIn>
    private let configuration: Configuration
    private let connections: DNSTCPConnections?
    private let original: (address: IPAddress, port: UInt16)?
    private let clock: @Sendable () -> UTCTime
    private var slot: DNSTCPConnections.Slot?
    /// Filled on connect; the first bytes are added when it is logged.
    private var checkIn: CheckIn?
    private var logged = false
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?

    /// - Parameters:
    ///   - targets: the seized addresses, which label a check-in by the destination it dialled.
    ///   - ring: the ring of the event loop this handler runs on; only that loop pushes to it.
    ///   - connections: the listener's connection table, or nil for no limit (tests).
    ///   - original: the destination the kernel says the connection had before a redirect,
    ///     nil when it gave none (the connection was not redirected, or no conntrack).
    ///   - clock: the wall clock for check-ins, injected so tests control it. The idle timeout
    ///     runs on the event loop's own clock.
    public init(targets: SeizedTargets, ring: EventRing<CheckIn>, configuration: Configuration = Configuration(),
                connections: DNSTCPConnections? = nil, original: (address: IPAddress, port: UInt16)? = nil,
                clock: @escaping @Sendable () -> UTCTime = UTCTime.now) {
        self.targets = targets
        self.ring = ring
        self.configuration = configuration
        self.connections = connections
        self.original = original
        self.clock = clock
        reader = CatchAllReader(readBytes: configuration.readBytes)
    }

    public func channelActive(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        if let connections {
            guard let admitted = connections.admit(context.channel, now: now) else {
                // Refused only while the listener shuts down: nothing was read, nothing to log.
                logged = true
                context.close(promise: nil)
                return
            }
            slot = admitted
        }
        let source = context.channel.remoteAddress?.sinkholeEndpoint ?? (.zero, 0)
        let local = context.channel.localAddress?.sinkholeEndpoint ?? (.zero, 0)
        var checkIn = CheckIn(time: clock(), source: source.address, sourcePort: source.port,
                              destination: local.address, destinationPort: local.port,
                              transport: .tcp, service: .tcp)
        checkIn.recordCatchAll(original: original)
        checkIn.family = targets.family(destination: checkIn.destination)
        self.checkIn = checkIn
        context.fireChannelActive()
        if reader.isComplete {
            finish(context: context)
            return
        }
        lastActivity = now
        scheduleIdleCheck(context: context, at: now + configuration.idleTimeout)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !logged else { return }
        let buffer = unwrapInboundIn(data)
        let complete = buffer.withUnsafeReadableBytes { reader.consume($0) }
        if complete {
            finish(context: context)
        } else {
            lastActivity = context.eventLoop.now
            slot?.markIdle(since: lastActivity)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        // The peer closed (or the table closed this connection for room) before enough
        // arrived: what came is the check-in.
        log()
        stop()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset ends this connection only; it is logged on the way out, never per error.
        context.close(promise: nil)
    }

    private func finish(context: ChannelHandlerContext) {
        log()
        context.close(promise: nil)
    }

    private func log() {
        guard !logged, var checkIn else { return }
        logged = true
        checkIn.firstBytes = reader.firstBytes
        counts.checkIns += 1
        // On a full ring this waits while the writer drains, and drops only a stalled writer's.
        if !ring.pushWaitingForConsumer(checkIn) { counts.ringDrops += 1 }
    }

    /// The idle check reschedules itself from the last activity rather than being re-armed
    /// per read (as the HTTP handler does), which would cost a timer per read.
    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let due = self.lastActivity + self.configuration.idleTimeout
            if context.eventLoop.now >= due {
                self.idleTimer = nil
                self.counts.idleTimeouts += 1
                self.finish(context: context)
            } else {
                self.scheduleIdleCheck(context: context, at: due)
            }
        }
    }

    private func stop() {
        idleTimer?.cancel()
        idleTimer = nil
        if let slot {
            connections?.release(slot)
            self.slot = nil
        }
    }
}

@available(*, unavailable)
extension CatchAllTCPHandler: Sendable {}
