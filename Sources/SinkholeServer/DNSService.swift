import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SinkholeCore
import SinkholeDNS

/// The DNS listeners: for each address a TCP listener (RFC 7766 §5: TCP is not optional)
/// whose connections are served by `DNSTCPHandler`s on the event loops, and UDP sockets on the
/// same address and port served by the `DNSUDPWorker` threads, one socket per worker
/// (SO_REUSEPORT). Every handler and worker pushes into its own ring. The sockets come bound
/// (or adopted from systemd) from `ListenerSockets`, which binds TCP first: a second sinkhole
/// started on the same ports fails there, before any of its UDP sockets could join this one's
/// SO_REUSEPORT group and take a share of the queries.
///
/// On graceful shutdown or cancellation the workers answer what their sockets hold and stop,
/// the TCP listeners close, then every open TCP connection; `run` returns only once all of
/// them have. Messages already read are answered and pushed first, so the writer, which stops
/// after this service, sees all of them.
struct DNSService: Service {
    /// Asked of the kernel for each UDP socket. Under load Knot and Unbound lost queries to
    /// their default UDP buffers while NSD, which enlarges its buffer, lost none.
    static let receiveBufferBytes = 8 * 1024 * 1024

    /// The TCP listeners, bound or adopted (`ListenerSockets`), one per address.
    let tcpSockets: [TCPListenSocket]
    /// Each UDP worker's sockets, one per address.
    let udpSockets: [[UDPListenSocket]]
    /// The responder in force; a reload publishes a new one to every channel and worker.
    let live: LiveResponder
    let group: any EventLoopGroup
    let rings: EventLoopRings
    /// One ring per UDP worker thread, as many as `udpSockets`.
    let udpRings: [EventRing<CheckIn>]
    let logger: Logger
    /// Response rate limiting of each UDP worker (TCP is never limited).
    var rateLimit = ResponseRateLimiter.Settings()
    /// Called with every bound address once all are bound.
    var onBound: @Sendable ([ListenAddress]) -> Void = { _ in }
    /// Time limits of each TCP connection.
    var tcp = DNSTCPHandler.Configuration()
    /// The most TCP connections open at once on each listener.
    var tcpConnectionLimit = DNSTCPConnections.defaultLimit
    /// Where the UDP workers' heartbeats are watched (the systemd watchdog); nil: not watched.
    var progress: ProgressGate?
    /// Where /metrics finds the UDP workers and the connection tables; nil without the metrics listener.
    var metrics: MetricSources?

    /// UDP worker threads for a host with `cores` cores: one core is left to the writer and the
    /// TCP event loops, which log what the workers answer.
    static func defaultUDPWorkers(cores: Int) -> Int { max(1, cores - 1) }

    func run() async throws {
        precondition(udpSockets.count == udpRings.count, "one ring per UDP worker")
        let listeners: [TCPListener]
        do {
            listeners = try await tcpSockets.serveAll(serveTCP)
        } catch {
            for socket in udpSockets.joined() { close(socket.descriptor) }
            throw error
        }
        let sockets = udpSockets
        let workers = sockets.enumerated().map { index, sockets in
            DNSUDPWorker(name: "dns-udp-\(index)", sockets: sockets, ring: udpRings[index], live: live,
                         rateLimit: rateLimit, progress: progress)
        }
        for worker in workers { worker.start() }
        for worker in workers { metrics?.register(udpWorker: .dns) { worker.counts } }
        metrics?.register(connections: listeners.map(\.connections), role: .dns)
        onBound(listeners.compactMap { $0.channel.localAddress.flatMap(ListenAddress.init(socketAddress:)) })
        let channels = listeners.map(\.channel)
        let tables = listeners.map(\.connections)
        // Cancellation too, not only graceful shutdown: when another service fails the group
        // cancels this one, and a listener left open would answer bots nobody records.
        await withTaskCancellationOrGracefulShutdownHandler {
            for channel in channels {
                try? await channel.closeFuture.get()
            }
        } onCancelOrGracefulShutdown: {
            for worker in workers { worker.stop() }
            for channel in channels { channel.close(promise: nil) }
            for table in tables { _ = table.closeAll() }
        }
        for worker in workers { await worker.waitUntilFinished() }
        for socket in sockets.joined() { close(socket.descriptor) }
        // The listeners are closed, so no connection is admitted any more: wait until every
        // open one has stopped, so none pushes a check-in after the writer's last drain.
        for table in tables {
            for closed in table.closeAll() { try? await closed.get() }
        }
        let counts = workers.reduce(into: DNSUDPWorker.Counts()) { $0.add($1.counts) }
        logger.info("dns listeners closed", metadata: [
            "udp.datagrams": "\(counts.datagrams)", "udp.replies": "\(counts.replies)",
            "udp.unsent_replies": "\(counts.unsentReplies)", "udp.ring_drops": "\(counts.ringDrops)",
        ])
    }
}

extension ListenAddress {
    /// The address a NIO channel is bound to (port 0 in the configuration becomes the real port).
    init?(socketAddress: SocketAddress) {
        guard let endpoint = socketAddress.sinkholeEndpoint else { return nil }
        self.init(endpoint.address, port: endpoint.port)
    }
}
