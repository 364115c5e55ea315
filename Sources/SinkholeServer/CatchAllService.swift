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
    /// The accept queue asked of the kernel: a scan of every port arrives all at once.
    static let backlog: Int32 = 1024
    /// Asked of the kernel for each UDP socket, as for DNS: bursts wait there for the worker.
    static let receiveBufferBytes = 4 * 1024 * 1024

    let tcp: [ListenAddress]
    let udp: [ListenAddress]
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

    struct Listener {
        let channel: any Channel
        let connections: DNSTCPConnections
    }

    func run() async throws {
        precondition(udp.isEmpty == (udpRing == nil), "a UDP catch-all needs its ring")
        var listeners: [Listener] = []
        var sockets: [UDPListenSocket] = []
        do {
            for address in tcp { listeners.append(try await bind(address)) }
            for address in udp { sockets.append(try openUDP(address)) }
        } catch {
            for socket in sockets { close(socket.descriptor) }
            for listener in listeners {
                try? await listener.channel.close()
                _ = listener.connections.closeAll()
            }
            throw error
        }
        let (targets, readBytes) = (self.targets, handler.readBytes)
        let worker = udpRing.map { ring in
            CatchAllUDPWorker(name: "catchall-udp", sockets: sockets, ring: ring, progress: progress) {
                CatchAllDatagramHandler(targets: targets, readBytes: readBytes)
            }
        }
        worker?.start()
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

    private func bind(_ address: ListenAddress) async throws -> Listener {
        let socketAddress = try address.socketAddress(protocolName: "tcp")
        let connections = DNSTCPConnections(limit: connectionLimit)
        let (rings, targets, handler) = (self.rings, self.targets, self.handler)
        let family = address.address.family
        var bootstrap = address.tcpBootstrap(group: group, backlog: Self.backlog)
        bootstrap = bootstrap.childChannelInitializer { channel in
            // On the channel's loop, so this completes before the connection is active.
            OriginalDestination.read(channel, family: family).flatMapThrowing { original in
                try channel.pipeline.syncOperations.addHandler(CatchAllTCPHandler(
                    targets: targets, ring: rings.ring(for: channel.eventLoop), configuration: handler,
                    connections: connections, original: original))
            }
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: socketAddress).get()
        } catch {
            throw ListenError(address: address, protocolName: "tcp", underlying: error)
        }
        logger.info("catch-all listener bound", metadata: [
            "listen.address": "\(channel.localAddress.flatMap(ListenAddress.init(socketAddress:))?.description ?? address.description)",
            "listen.protocol": "tcp",
            "tcp.max_connections": "\(connections.limit)",
            "catch_all.read_bytes": "\(handler.readBytes)",
            "catch_all.idle_timeout_ms": "\(handler.idleTimeout.nanoseconds / 1_000_000)",
        ])
        return Listener(channel: channel, connections: connections)
    }

    /// Opens a UDP socket that learns each datagram's original destination. Transparency
    /// (what tproxy needs) is asked for and, when refused, logged: the listener still logs
    /// what is sent to its own port, which is all a loopback test or `make run` sends.
    private func openUDP(_ address: ListenAddress) throws -> UDPListenSocket {
        let descriptor: Int32
        let transparencyRefused: Int32?
        do {
            descriptor = try UDPSocket.open(address, reusePort: false, receiveBufferBytes: Self.receiveBufferBytes)
            do {
                transparencyRefused = try UDPSocket.recoverOriginalDestination(descriptor, family: address.address.family)
            } catch {
                close(descriptor)
                throw error
            }
        } catch {
            throw ListenError(address: address, protocolName: "udp", underlying: error)
        }
        let bound = ListenAddress(address.address, port: UDPSocket.boundPort(descriptor))
        var metadata: Logger.Metadata = ["listen.address": "\(bound)", "listen.protocol": "udp"]
        if let errno = transparencyRefused {
            metadata["udp.transparent"] = "no: \(String(cString: strerror(errno)))"
            metadata["hint"] = "nftables tproxy delivers only to a transparent socket: grant CAP_NET_RAW (AmbientCapabilities) to catch redirected UDP"
            logger.warning("catch-all listener bound", metadata: metadata)
        } else {
            metadata["udp.transparent"] = "yes"
            logger.info("catch-all listener bound", metadata: metadata)
        }
        return UDPListenSocket(descriptor: descriptor, local: bound)
    }
}
