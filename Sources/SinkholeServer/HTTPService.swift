import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP

/// The HTTP listeners (`http.listen`): each accepted connection is served by an
/// `HTTPServerHandler` on its own event loop, pushing into that loop's ring.
///
/// With `certificates` set it is the TLS service (`http.tls_listen`): the same handler, with a
/// `TLSHelloHandler` in front that reads the hello, then terminates TLS with NIOSSL; same
/// limits, timeouts and reloads, its own listeners and connection tables.
///
/// Connections attach to the `LiveResponder`, so a reload (SIGHUP) hands every open one the new
/// seized names as it does the DNS channels. On graceful shutdown or cancellation the
/// listeners close, then every open connection; `run` returns once all have, so no handler
/// pushes a check-in after the writer's last drain. Requests already read were answered and
/// pushed as they were read, so none is lost.
struct HTTPService: Service {
    /// The listeners (`http.listen` or `http.tls_listen`), bound or adopted by `ListenerSockets`.
    var sockets: [TCPListenSocket]
    let group: any EventLoopGroup
    let rings: EventLoopRings
    let responses: HTTPResponses
    /// The seized addresses; the names come from `live` (and its reloads).
    let seizedAddresses: [IPAddress: String]
    let live: LiveResponder
    let logger: Logger
    var handler = HTTPServerHandler.Configuration()
    var connectionLimit = 1024
    /// TLS in front of HTTP on every connection, with these certificates; nil for plain HTTP.
    var certificates: TLSCertificates?
    /// `http` or `tls`: in log messages and errors.
    var protocolName: String { certificates == nil ? "http" : "tls" }
    /// Called with every bound address once all are bound.
    var onBound: @Sendable ([ListenAddress]) -> Void = { _ in }
    /// Where /metrics finds the connection tables; nil without the metrics listener.
    var metrics: MetricSources?

    func run() async throws {
        let listeners = try await sockets.serveAll(serve)
        metrics?.register(connections: listeners.map(\.connections), role: certificates == nil ? .http : .tls)
        onBound(listeners.compactMap { $0.channel.localAddress.flatMap(ListenAddress.init(socketAddress:)) })
        let channels = listeners.map(\.channel)
        let tables = listeners.map(\.connections)
        await withTaskCancellationOrGracefulShutdownHandler {
            for channel in channels { try? await channel.closeFuture.get() }
        } onCancelOrGracefulShutdown: {
            for channel in channels { channel.close(promise: nil) }
            for table in tables { _ = table.closeAll() }
        }
        for table in tables {
            for closed in table.closeAll() { try? await closed.get() }
        }
        let counts = tables.reduce(into: DNSTCPConnections.Counts()) {
            $0.admitted += $1.counts.admitted
            $0.evicted += $1.counts.evicted
            $0.refused += $1.counts.refused
        }
        logger.info(certificates == nil ? "http listeners closed" : "tls listeners closed", metadata: [
            "tcp.admitted": "\(counts.admitted)", "tcp.evicted": "\(counts.evicted)", "tcp.refused": "\(counts.refused)",
        ])
    }

    private func serve(_ socket: TCPListenSocket) async throws -> TCPListener {
        let connections = DNSTCPConnections(limit: connectionLimit)
        let (rings, responses, live, handler) = (self.rings, self.responses, self.live, self.handler)
        let seizedAddresses = self.seizedAddresses
        let certificates = self.certificates
        var bootstrap = socket.bootstrap(group: group)
        bootstrap = bootstrap.childChannelInitializer { channel in
            // Attached before the first byte: a reload from now on reaches this connection.
            let zones = live.attach(channel).zones
            let serve = HTTPServerHandler(
                responses: responses, targets: SeizedTargets(zones: zones, addresses: seizedAddresses),
                ring: rings.ring(for: channel.eventLoop), configuration: handler, connections: connections)
            return channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                // A client that pipelines requests but never reads the answers must not make
                // them queue without bound: stop reading until the socket drains.
                try pipeline.addHandler(BackPressureHandler())
                if let certificates {
                    // NIOSSL goes in behind it once the hello has chosen the certificate.
                    try pipeline.addHandler(TLSHelloHandler(certificates: certificates, zones: zones))
                }
                try pipeline.addHandler(serve)
            }
        }
        let channel = try await socket.serve(with: bootstrap, protocolName: protocolName)
        logger.info(certificates == nil ? "http listener bound" : "tls listener bound", metadata: [
            "listen.address": "\(socket.local)",
            "tcp.max_connections": "\(connections.limit)",
            "http.header_timeout_ms": "\(handler.headerTimeout.nanoseconds / 1_000_000)",
            "http.body_timeout_ms": "\(handler.bodyTimeout.nanoseconds / 1_000_000)",
            "http.idle_timeout_ms": "\(handler.idleTimeout.nanoseconds / 1_000_000)",
        ])
        return TCPListener(channel: channel, connections: connections)
    }
}
