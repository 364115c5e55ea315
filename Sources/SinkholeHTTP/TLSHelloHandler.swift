import NIOCore
import NIOSSL
import SinkholeCore
import SinkholeDNS

/// Reads a TLS connection's hellos before BoringSSL does, so the sinkhole has the client's
/// SNI and offered ciphers even when the handshake then fails, and terminates TLS with the
/// certificate that SNI calls for.
///
/// It sits first in the pipeline (nearest the socket) and holds the connection's first bytes
/// until the client's hello is whole (`TLSHello.scan`, bounded), then:
/// - a hello, readable or not: tells the handler behind (`TLSHelloEvent.client`), puts a
///   `NIOSSLServerHandler` with the chosen certificate right after itself and passes the held
///   bytes on; BoringSSL answers an unreadable hello with an alert, as a server would;
/// - a client that leaves before its hello is whole: tells the handler behind what it sent;
/// - not TLS at all: passes the bytes on as they are, so the HTTP handler behind logs them as it
///   logs any non-HTTP bytes (a `tcp` check-in with the first bytes), and plaintext HTTP sent to
///   the TLS port is answered and logged as HTTP, the richer evidence.
/// Outbound, it reads the sinkhole's own hello as it leaves (plaintext in every version) for
/// the version and cipher suite chosen (`TLSHelloEvent.server`): NIOSSL does not expose the
/// negotiated suite. After that it only passes bytes through.
///
/// Check-ins are made by the handler behind, which owns the connection's addresses, ring,
/// timers and slot in the connection table: one place decides what a connection logged.
public final class TLSHelloHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case readingClientHello([UInt8])
        case readingServerHello([UInt8])
        case passing
    }

    private var state = State.readingClientHello([])
    private var zones: SeizedZones
    private let certificates: TLSCertificates
    private let clock: @Sendable () -> UTCTime

    /// - Parameters:
    ///   - zones: the seized names, for the SNI's family and certificate; reloaded with the
    ///     `DNSResponderUpdate` event, which is passed on.
    ///   - clock: the wall clock stamping the hello, injected so tests control it.
    public init(certificates: TLSCertificates, zones: SeizedZones,
                clock: @escaping @Sendable () -> UTCTime = UTCTime.now) {
        self.certificates = certificates
        self.zones = zones
        self.clock = clock
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .readingClientHello(var held) = state else {
            context.fireChannelRead(data)
            return
        }
        state = .passing  // while `held` is modified: no copy of the array
        let buffer = unwrapInboundIn(data)
        held += buffer.readableBytesView
        let scan = TLSHello.scan(held)
        switch scan {
        case .needMoreBytes:
            state = .readingClientHello(held)
        case .notTLS:
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: held)))
        case .malformed, .message:
            var match: SeizedZones.Match?
            let detail: TLSDetail
            if case .message(1, let body) = scan, let hello = try? TLSClientHello(parsing: body) {
                match = Self.name(fromServerName: hello.serverName).flatMap { zones.match($0) }
                detail = TLSDetail(hello: hello, family: match.map { BoundedBytes($0.family) } ?? BoundedBytes(), at: clock())
            } else {
                detail = unreadable(held)
            }
            context.fireUserInboundEventTriggered(TLSHelloEvent.client(detail))
            let tls = NIOSSLServerHandler(context: certificates.context(for: match))
            do {
                try context.pipeline.syncOperations.addHandler(tls, position: .after(self))
            } catch {
                // The channel is closing (handlers cannot be added any more): nothing to serve.
                context.close(promise: nil)
                return
            }
            state = .readingServerHello([])
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: held)))
        }
    }

    /// A client that leaves (or is timed out) before its hello is whole is logged with what it
    /// sent, like an unreadable hello.
    public func channelInactive(context: ChannelHandlerContext) {
        if case .readingClientHello(let held) = state, !held.isEmpty {
            state = .passing
            context.fireUserInboundEventTriggered(TLSHelloEvent.client(unreadable(held)))
        }
        context.fireChannelInactive()
    }

    /// The detail of TLS records that held no readable hello: their first bytes.
    private func unreadable(_ held: [UInt8]) -> TLSDetail {
        var detail = TLSDetail(helloTime: clock())
        detail.firstBytes = BoundedBytes(held.prefix(CheckIn.Limits.firstBytes))
        if held.count > CheckIn.Limits.firstBytes { detail.firstBytes.markTruncated() }
        return detail
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .readingServerHello(var held) = state {
            state = .passing
            held += unwrapOutboundIn(data).readableBytesView
            switch TLSHello.scan(held) {
            case .needMoreBytes:
                state = .readingServerHello(held)
            case .message(2, let body):
                if let hello = try? TLSServerHello(parsing: body) {
                    context.fireUserInboundEventTriggered(TLSHelloEvent.server(hello))
                }
            case .message, .malformed, .notTLS:
                // An alert (the handshake failed at once) or something unreadable: no choice
                // was made to record.
                break
            }
        }
        context.write(data, promise: promise)
    }

    /// Takes reloaded seized names and passes the event on to the handlers behind.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let update = event as? DNSResponderUpdate { zones = update.responder.zones }
        context.fireUserInboundEventTriggered(event)
    }

    /// The name in an SNI (RFC 6066 §3: a DNS host name without the trailing dot, which some
    /// clients send anyway); nil for an empty or invalid one.
    static func name(fromServerName serverName: BoundedBytes<255>) -> DNSName? {
        serverName.withBytes { bytes -> DNSName? in
            var name = bytes[...]
            if name.last == UInt8(ascii: ".") { name = name.dropLast() }
            guard !name.isEmpty else { return nil }
            return DNSName(labels: name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false))
        }
    }
}

@available(*, unavailable)
extension TLSHelloHandler: Sendable {}
