import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP

/// The catch-all listeners (`catch_all.tcp`, `catch_all.udp`): whatever reaches them is logged
/// with its first bytes and the destination the bot dialled. `Deploy/nftables.conf` sends every
/// port of the sinkhole and seized addresses that no responder serves here: TCP by `redirect`
/// (the original destination read back with SO_ORIGINAL_DST), UDP by `tproxy` (the packet keeps
/// its destination, which the kernel reports per datagram).
///
/// TCP connections are served by `CatchAllTCPHandler`s on the event loops, pushing into their
/// loop's ring; UDP sockets by one `UDPWorker` thread with its own ring, the DNS fast path's
/// machinery without the replies. Shutdown is the other listeners': the listeners close, the
/// worker handles what its sockets hold, then every open connection is closed and logged;
/// `run` returns once all have, before the writer's last drain.
struct CatchAllService: Service {
    /// Asked of the kernel for each UDP socket, as for DNS: bursts wait there for the worker.
    static let receiveBufferBytes = 4 * 1024 * 1024

    /// The listeners, bound or adopted by `ListenerSockets`.
    let tcp: [TCPListenSocket]
    let udp: [UDPListenSocket]
    let group: any EventLoopGroup
    let rings: EventLoopRings
    /// The UDP worker's ring; nil exactly when `udp` is empty.
    let udpRing: EventRing<CheckIn>?
    /// The seized addresses, which label a check-in by the destination it dialled.
    let targets: SeizedTargets
    let logger: Logger
    var handler = CatchAllTCPHandler.Configuration()
    var connectionLimit = 1024
    /// Called with every bound address (TCP, then UDP) once all are bound.
    var onBound: @Sendable ([ListenAddress]) -> Void = { _ in }
    /// Where the UDP worker's heartbeat is watched (the systemd watchdog); nil: not watched.
    var progress: ProgressGate?
    /// Where /metrics finds the UDP worker and the connection tables; nil without the metrics listener.
    var metrics: MetricSources?

    func run() async throws {
        precondition(udp.isEmpty == (udpRing == nil), "a UDP catch-all needs its ring")
        let sockets = udp
        let listeners: [TCPListener]
        do {
            listeners = try await tcp.serveAll(serve)
        } catch {
            for socket in sockets { close(socket.descriptor) }
            throw error
        }
        let (targets, readBytes) = (self.targets, handler.readBytes)
        let worker = udpRing.map { ring in
            CatchAllUDPWorker(name: "catchall-udp", sockets: sockets, ring: ring, progress: progress) {
                CatchAllDatagramHandler(targets: targets, readBytes: readBytes)
            }
        }
        worker?.start()
        if let worker { metrics?.register(udpWorker: .catchAll) { worker.counts } }
        metrics?.register(connections: listeners.map(\.connections), role: .catchAll)
        onBound(listeners.compactMap { $0.channel.localAddress.flatMap(ListenAddress.init(socketAddress:)) }
            + sockets.map(\.local))
        let channels = listeners.map(\.channel)
        let tables = listeners.map(\.connections)
        await withTaskCancellationOrGracefulShutdownHandler {
            for channel in channels { try? await channel.closeFuture.get() }
            // With no TCP listener, the UDP worker alone keeps the service up.
            if channels.isEmpty { try? await gracefulShutdown() }
        } onCancelOrGracefulShutdown: {
            worker?.stop()
            for channel in channels { channel.close(promise: nil) }
            for table in tables { _ = table.closeAll() }
        }
        worker?.stop()
        await worker?.waitUntilFinished()
        for socket in sockets { close(socket.descriptor) }
        // Closing a connection logs it: wait until every one has, before the writer stops.
        for table in tables {
            for closed in table.closeAll() { try? await closed.get() }
        }
        let counts = tables.reduce(into: DNSTCPConnections.Counts()) {
            $0.admitted += $1.counts.admitted
            $0.evicted += $1.counts.evicted
            $0.refused += $1.counts.refused
        }
        let udpCounts = worker?.counts ?? UDPWorkerCounts()
        logger.info("catch-all listeners closed", metadata: [
            "tcp.admitted": "\(counts.admitted)", "tcp.evicted": "\(counts.evicted)", "tcp.refused": "\(counts.refused)",
            "udp.datagrams": "\(udpCounts.datagrams)", "udp.ring_drops": "\(udpCounts.ringDrops)",
        ])
    }

    private func serve(_ socket: TCPListenSocket) async throws -> TCPListener {
        let connections = DNSTCPConnections(limit: connectionLimit)
        let (rings, targets, handler) = (self.rings, self.targets, self.handler)
        let family = socket.local.address.family
        var bootstrap = socket.bootstrap(group: group)
        bootstrap = bootstrap.childChannelInitializer { channel in
            // On the channel's loop, so this completes before the connection is active.
            OriginalDestination.read(channel, family: family).flatMapThrowing { original in
                try channel.pipeline.syncOperations.addHandler(CatchAllTCPHandler(
                    targets: targets, ring: rings.ring(for: channel.eventLoop), configuration: handler,
                    connections: connections, original: original))
            }
        }
        let channel = try await socket.serve(with: bootstrap, protocolName: "catch-all tcp")
        logger.info("catch-all listener bound", metadata: [
            "listen.address": "\(socket.local)",
            "listen.protocol": "tcp",
            "tcp.max_connections": "\(connections.limit)",
            "catch_all.read_bytes": "\(handler.readBytes)",
            "catch_all.idle_timeout_ms": "\(handler.idleTimeout.nanoseconds / 1_000_000)",
        ])
        return TCPListener(channel: channel, connections: connections)
    }
}
