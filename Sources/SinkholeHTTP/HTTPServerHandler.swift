import NIOCore
import NIOTLS
import SinkholeCore
import SinkholeDNS

/// Serves HTTP/1 on one connection: bytes go through an `HTTPRequestParser`, every request is
/// answered from the pre-rendered `HTTPResponses` and logged as one `CheckIn` of service
/// `http` in this event loop's ring, numbered by its place on the connection
/// (`CheckIn.requestIndex`) so each request is stored as its own row.
///
/// Keep-alive and pipelining: requests read in one burst are answered in order, written as
/// each completes and flushed once in `channelReadComplete`.
///
/// The connection closes:
/// - after a response with `Connection: close` (HTTP/1.0 without keep-alive, or asked for);
/// - after a refusal (400, 408, 413, 414, 431), written and then followed by a lingering
///   close: output shut, input read and discarded for up to `lingerTimeout` so the client
///   reads the status instead of a reset (what nginx's `lingering_close` does);
/// - at once, without a response, when the first bytes are not HTTP (a TLS hello, an SSH
///   banner, an HTTP/2 preface): those bytes are logged as a `tcp` check-in;
/// - when a request head is not complete within `headerTimeout` of its first byte (408), a
///   body not within `bodyTimeout` of the end of its head (408), or nothing at all arrives for
///   `idleTimeout` (slowloris, in the head or in the body, holds nothing for long);
/// - when the listener's connection table picks it as the longest idle to make room.
///
/// Behind TLS (`TLSHelloHandler` and NIOSSL before it in the pipeline) the same handler
/// serves the decrypted bytes: its check-ins become `tls` ones carrying the hello's detail
/// (`TLSHelloEvent`), and a connection that logged nothing else (the handshake failed, or the
/// client left before a request) logs its hello as one check-in when it closes.
public final class HTTPServerHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Per-connection limits.
    public struct Configuration: Sendable, Hashable {
        public var limits: HTTPRequestParser.Limits
        /// From a request's first byte to the end of its head (nginx `client_header_timeout`).
        public var headerTimeout: TimeAmount
        /// From the end of a request's head to the end of its body, however the body trickles
        /// in. nginx's `client_body_timeout` (60 s) bounds only the gap between two reads, so a
        /// byte every minute holds its connection for ever; a deadline on the whole body does
        /// not, and at the default 30 s a 1 MiB body needs only ~35 KiB/s.
        public var bodyTimeout: TimeAmount
        /// With no bytes arriving (nginx `keepalive_timeout` is 75 s; bots reconnect anyway).
        public var idleTimeout: TimeAmount
        /// How long a refused connection's input is drained before it is closed.
        public var lingerTimeout: TimeAmount

        public init(limits: HTTPRequestParser.Limits = .init(), headerTimeout: TimeAmount = .seconds(10),
                    bodyTimeout: TimeAmount = .seconds(30), idleTimeout: TimeAmount = .seconds(30),
                    lingerTimeout: TimeAmount = .seconds(2)) {
            self.limits = limits
            self.headerTimeout = headerTimeout
            self.bodyTimeout = bodyTimeout
            self.idleTimeout = idleTimeout
            self.lingerTimeout = lingerTimeout
        }
    }

    /// What the handler has seen, for metrics and tests. Read on the channel's event loop.
    public struct Counts: Sendable, Hashable {
        /// Requests answered with the configured response.
        public var requests = 0
        /// Requests refused with a 4xx (each also a check-in).
        public var rejected = 0
        /// Connections whose first bytes were not HTTP.
        public var notHTTP = 0
        /// TLS connections that logged only their hello (the handshake failed, or no request
        /// followed it).
        public var tlsHellosOnly = 0
        public var headerTimeouts = 0
        public var bodyTimeouts = 0
        public var idleTimeouts = 0
        /// Check-ins the ring refused because it was full (the ring counts them too).
        public var ringDrops = 0
    }

    public private(set) var counts = Counts()

    private enum Phase {
        case open
        /// Refused or closing after a response: input is discarded until the close.
        case lingering
    }

    private var parser: HTTPRequestParser
    private var targets: SeizedTargets
    private let responses: HTTPResponses
    private let ring: EventRing<CheckIn>
    private let configuration: Configuration
    private let connections: DNSTCPConnections?
    private let clock: @Sendable () -> UTCTime
    private var slot: DNSTCPConnections.Slot?
    private var source: (address: IPAddress, port: UInt16) = (.zero, 0)
    private var destination: (address: IPAddress, port: UInt16) = (.zero, 0)
    /// The connection's first bytes, for the check-in when they turn out not to be HTTP.
    private var firstBytes = BoundedBytes<64>()
    private var phase = Phase.open
    private var needsFlush = false
    private var readThisBurst = false
    private var lingerBytes = 0
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var headerTimer: Scheduled<Void>?
    private var bodyTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    private var dateSecond: Int64 = .min
    private var date = ByteBuffer()
    /// The TLS side of the connection, once `TLSHelloHandler` has read the client's hello.
    private var tls: TLSDetail?
    /// Something was pushed for this connection (a TLS hello is then not logged on its own).
    private var loggedAny = false

    /// - Parameters:
    ///   - ring: the ring of the event loop this handler runs on; only that loop pushes to it.
    ///   - connections: the listener's connection table, or nil for no limit (tests).
    ///   - clock: the wall clock for check-ins and `Date`, injected so tests control it.
    ///     Timeouts run on the event loop's own clock.
    public init(
        responses: HTTPResponses, targets: SeizedTargets, ring: EventRing<CheckIn>,
        configuration: Configuration = Configuration(), connections: DNSTCPConnections? = nil,
        clock: @escaping @Sendable () -> UTCTime = UTCTime.now
    ) {
        self.responses = responses
        self.targets = targets
        self.ring = ring
        self.configuration = configuration
        self.connections = connections
        self.clock = clock
        parser = HTTPRequestParser(limits: configuration.limits)
    }

    public func channelActive(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        if let connections {
            guard let admitted = connections.admit(context.channel, now: now) else {
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
        if phase == .open && parser.inMessage {
            // The peer went away mid-request: what arrived is still evidence.
            logIncomplete(status: 0)
        }
        if let tls, !loggedAny {
            // The hello is the check-in: a bot whose handshake failed still named its C&C.
            counts.tlsHellosOnly += 1
            var checkIn = makeCheckIn(service: .tls, at: tls.helloTime)
            checkIn.family = family(host: nil)
            push(checkIn)
        }
        stop()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        readThisBurst = true
        guard phase == .open else {
            lingerBytes += buffer.readableBytes
            if lingerBytes > configuration.limits.discardBytes { context.close(promise: nil) }
            return
        }
        buffer.withUnsafeReadableBytes { raw in
            if parser.completedRequests == 0 && firstBytes.count < CheckIn.Limits.firstBytes {
                let room = CheckIn.Limits.firstBytes - firstBytes.count
                for byte in raw.prefix(room) { firstBytes.append(byte) }
                if raw.count > room { firstBytes.markTruncated() }
            }
            var index = 0
            while index < raw.count && phase == .open {
                let wasInMessage = parser.inMessage
                let outcome = parser.consume(raw, at: &index)
                if !wasInMessage && parser.inHead { headStarted(context: context) }
                if headerTimer != nil && !parser.inHead {
                    headerTimer?.cancel()
                    headerTimer = nil
                }
                // Armed only when a body outlasts the read that ended its head: a request
                // read whole in one burst schedules no timer.
                if parser.inBody {
                    if bodyTimer == nil { bodyStarted(context: context) }
                } else if bodyTimer != nil {
                    bodyTimer?.cancel()
                    bodyTimer = nil
                }
                switch outcome {
                case .needMoreBytes:
                    break
                case .continueExpected:
                    var out = context.channel.allocator.buffer(capacity: 32)
                    responses.writeContinue(into: &out)
                    context.write(wrapOutboundOut(out), promise: nil)
                    needsFlush = true
                case .request:
                    answer(context: context)
                case .rejected(let rejection):
                    refuse(rejection, context: context)
                case .notHTTP:
                    counts.notHTTP += 1
                    var checkIn = makeCheckIn(service: .tcp)
                    checkIn.firstBytes = firstBytes
                    checkIn.family = family(host: nil)
                    push(checkIn)
                    phase = .lingering
                    context.close(promise: nil)
                }
            }
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        if readThisBurst {
            readThisBurst = false
            // Once per read burst, not per request: one clock read and one relaxed store.
            lastActivity = context.eventLoop.now
            if !parser.inMessage { slot?.markIdle(since: lastActivity) }
        }
        context.fireChannelReadComplete()
    }

    /// Takes reloaded seized names (`DNSResponderUpdate`) and the TLS layer's news (the
    /// hellos, the handshake's end); other events pass on.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let update = event as? DNSResponderUpdate {
            targets.zones = update.responder.zones
        } else if let hello = event as? TLSHelloEvent {
            switch hello {
            case .client(let detail):
                tls = detail
            case .server(let chosen):
                tls?.version = chosen.version
                tls?.cipher = chosen.cipherSuite
            }
        } else {
            if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent { tls?.completed = true }
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a broken pipe ends this connection only; nothing is logged per peer.
        context.close(promise: nil)
    }

    // MARK: - Answers

    private func answer(context: ChannelHandlerContext) {
        counts.requests += 1
        let request = parser.request
        let now = clock()
        var checkIn = makeCheckIn(service: .http, at: now)
        describe(request, in: &checkIn)
        // The parser has counted this request already: the first is index 0.
        checkIn.requestIndex = UInt32(clamping: parser.completedRequests - 1)
        checkIn.httpStatus = responses.status
        push(checkIn)
        let connection: HTTPResponses.Connection =
            !request.keepAlive ? .close : request.version >= 11 ? .persistent : .keepAlive
        var out = context.channel.allocator.buffer(capacity: 512)
        responses.write(answering: request, connection: connection, date: dateLine(now), into: &out)
        if connection == .close {
            finish(out, context: context)
        } else {
            context.write(wrapOutboundOut(out), promise: nil)
            needsFlush = true
        }
    }

    private func refuse(_ rejection: HTTPRejection, context: ChannelHandlerContext) {
        counts.rejected += 1
        let now = clock()
        logIncomplete(status: rejection.rawValue, at: now)
        var out = context.channel.allocator.buffer(capacity: 128)
        responses.write(rejecting: rejection, date: dateLine(now), into: &out)
        finish(out, context: context)
    }

    /// Logs a request that ended before it was answered: as `http` once its request line was
    /// read, else (on the first request) as `tcp` with the connection's first bytes.
    private func logIncomplete(status: UInt16, at now: UTCTime? = nil) {
        if parser.isHTTP {
            var checkIn = makeCheckIn(service: .http, at: now ?? clock())
            describe(parser.request, in: &checkIn)
            // Not completed, so not counted yet: its index is the count of those before it.
            checkIn.requestIndex = UInt32(clamping: parser.completedRequests)
            checkIn.httpStatus = status
            push(checkIn)
        } else if parser.completedRequests == 0 {
            var checkIn = makeCheckIn(service: .tcp, at: now ?? clock())
            checkIn.firstBytes = firstBytes
            checkIn.family = family(host: nil)
            push(checkIn)
        }
    }

    /// Writes the last response, then shuts output and drains input until the peer closes,
    /// the linger timeout passes or the discard cap is reached.
    private func finish(_ out: ByteBuffer, context: ChannelHandlerContext) {
        phase = .lingering
        needsFlush = false
        headerTimer?.cancel()
        headerTimer = nil
        bodyTimer?.cancel()
        bodyTimer = nil
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(out), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(mode: .output).assumeIsolated().whenFailure { _ in
                // Half-closure unsupported or already closed: close whole.
                context.close(promise: nil)
            }
        }
        lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.lingerTimeout) {
            self.lingerTimer = nil
            context.close(promise: nil)
        }
    }

    private func headStarted(context: ChannelHandlerContext) {
        slot?.markBusy()
        headerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.headerTimeout) {
            self.headerTimer = nil
            guard self.phase == .open else { return }
            self.counts.headerTimeouts += 1
            if self.parser.isHTTP {
                self.refuse(.requestTimeout, context: context)
            } else {
                self.logIncomplete(status: 0)
                self.phase = .lingering
                context.close(promise: nil)
            }
        }
    }

    private func bodyStarted(context: ChannelHandlerContext) {
        bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.bodyTimeout) {
            self.bodyTimer = nil
            guard self.phase == .open else { return }
            self.counts.bodyTimeouts += 1
            // Logged with the body bytes read so far, as a refusal: the head was HTTP.
            self.refuse(.requestTimeout, context: context)
        }
    }

    /// The idle check reschedules itself from the last activity rather than being re-armed
    /// per read, which would cost a timer allocation on the hot path.
    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let now = context.eventLoop.now
            let due = self.lastActivity + self.configuration.idleTimeout
            if self.headerTimer != nil || self.bodyTimer != nil {
                // A head or a body is arriving: its own deadline governs it.
                self.scheduleIdleCheck(context: context, at: now + self.configuration.idleTimeout)
            } else if now >= due {
                self.idleTimer = nil
                self.counts.idleTimeouts += 1
                if self.phase == .open && self.parser.inMessage { self.logIncomplete(status: 0) }
                self.phase = .lingering
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context: context, at: due)
            }
        }
    }

    // MARK: - Check-ins

    /// A check-in of this connection; behind TLS a `tls` one with the hello's detail (and
    /// the SNI as its name until a request's Host replaces it).
    private func makeCheckIn(service: CheckIn.Service, at now: UTCTime? = nil) -> CheckIn {
        var checkIn = CheckIn(time: now ?? clock(), source: source.address, sourcePort: source.port,
                              destination: destination.address, destinationPort: destination.port,
                              transport: .tcp, service: service)
        tls?.fill(&checkIn)
        return checkIn
    }

    /// The request's detail and family; behind TLS a request without a Host keeps the SNI
    /// as its name.
    private func describe(_ request: HTTPRequest, in checkIn: inout CheckIn) {
        request.fill(&checkIn)
        if checkIn.name.isEmpty, let tls { checkIn.name = tls.serverName }
        checkIn.family = family(host: request.host)
    }

    /// DESIGN.md "Families": the name the request gave (Host), else the name the TLS hello gave
    /// (SNI), else the seized address the connection reached.
    private func family(host: BoundedBytes<255>?) -> BoundedBytes<32> {
        if let host, let family = targets.family(host: host) { return family }
        if let tls, !tls.family.isEmpty { return tls.family }
        return targets.family(destination: destination.address)
    }

    private func push(_ checkIn: CheckIn) {
        loggedAny = true
        // On a full ring this waits while the writer drains (the event loop's other
        // connections wait too; UDP has its own threads), and drops only a stalled writer's.
        if !ring.pushWaitingForConsumer(checkIn) { counts.ringDrops += 1 }
    }

    /// The `Date` line, rendered once per second of the wall clock.
    private func dateLine(_ now: UTCTime) -> ByteBuffer {
        if now.seconds != dateSecond {
            dateSecond = now.seconds
            date.clear()
            HTTPResponses.writeDateLine(now, into: &date)
        }
        return date
    }

    private func stop() {
        for timer in [headerTimer, bodyTimer, idleTimer, lingerTimer] { timer?.cancel() }
        headerTimer = nil
        bodyTimer = nil
        idleTimer = nil
        lingerTimer = nil
        if let slot {
            connections?.release(slot)
            self.slot = nil
        }
    }
}

@available(*, unavailable)
extension HTTPServerHandler: Sendable {}
