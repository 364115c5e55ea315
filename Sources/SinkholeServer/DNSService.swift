import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SinkholeCore
import SinkholeDNS

/// The DNS listeners: for each configured address a UDP socket served by a `DNSUDPHandler`,
/// and a TCP listener on the same address and port (RFC 7766 §5: TCP is not optional) whose
/// connections are served by a `DNSTCPHandler`; every handler pushes into its event loop's ring.
///
/// On graceful shutdown or cancellation the sockets close: UDP sockets and TCP listeners
/// first, then every open TCP connection, and `run` returns only once all of them have
/// closed. Messages already read are answered and pushed before a close takes effect (they
/// are handled on the channel's own loop first), so the writer, which stops after this
/// service, sees all of them.
struct DNSService: Service {
    /// Asked of the kernel for each DNS socket. Under load Knot and Unbound lost queries to
    /// their default UDP buffers while NSD, which enlarges its buffer, lost none.
    static let receiveBufferBytes = 8 * 1024 * 1024

    let listen: [ListenAddress]
    /// The responder in force; a reload publishes a new one to every channel.
    let live: LiveResponder
    let group: any EventLoopGroup
    let rings: EventLoopRings
    let logger: Logger
    /// Called with every bound address once all are bound.
    var onBound: @Sendable ([ListenAddress]) -> Void = { _ in }
    /// Time limits of each TCP connection.
    var tcp = DNSTCPHandler.Configuration()
    /// The most TCP connections open at once on each listener.
    var tcpConnectionLimit = DNSTCPConnections.defaultLimit

    /// A bound TCP listener and the table of its open connections.
    struct TCPListener {
        let channel: any Channel
        let connections: DNSTCPConnections
    }

    func run() async throws {
        var channels: [any Channel] = []
        var listeners: [TCPListener] = []
        do {
            for address in listen {
                let udp = try await bind(address)
                channels.append(udp)
                // The port the UDP socket got: a configured port 0 must give TCP the same one.
                let port = udp.localAddress?.port.map(UInt16.init) ?? address.port
                listeners.append(try await bindTCP(ListenAddress(address.address, port: port)))
            }
        } catch {
            for channel in channels { try? await channel.close() }
            for listener in listeners {
                try? await listener.channel.close()
                _ = listener.connections.closeAll()
            }
            throw error
        }
        onBound(channels.compactMap { $0.localAddress.flatMap(ListenAddress.init(socketAddress:)) })
        let bound = channels + listeners.map(\.channel)
        let tables = listeners.map(\.connections)
        // Cancellation too, not only graceful shutdown: when another service fails the group
        // cancels this one, and a listener left open would answer bots nobody records.
        try await withTaskCancellationOrGracefulShutdownHandler {
            for channel in bound {
                try await channel.closeFuture.get()
            }
        } onCancelOrGracefulShutdown: {
            for channel in bound { channel.close(promise: nil) }
            for table in tables { _ = table.closeAll() }
        }
        // The listeners are closed, so no connection is admitted any more: wait until every
        // open one has stopped, so none pushes a check-in after the writer's last drain.
        for table in tables {
            for closed in table.closeAll() { try? await closed.get() }
        }
        logger.info("dns listeners closed")
    }

    private func bind(_ address: ListenAddress) async throws -> any Channel {
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: address.address.description, port: Int(address.port))
        } catch {
            throw ListenError(address: address, protocolName: "udp", underlying: error)
        }
        let live = self.live
        let rings = self.rings
        var bootstrap = DatagramBootstrap(group: group)
            // No SO_REUSEADDR: on Linux it lets a second UDP socket bind the same address and
            // silently take its traffic; a second instance must fail loudly instead.
            .channelOption(.socketOption(.so_rcvbuf), value: Self.receiveBufferBytes)
            .channelOption(.receivePacketInfo, value: true)
        if address.address.family == .v6 {
            // SwiftNIO opens IPv6 sockets dual-stack; `[::]:53` would then also take IPv4 port
            // 53 and the default pair ["0.0.0.0:53", "[::]:53"] could not both bind.
            bootstrap = bootstrap.channelOption(
                ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        }
        bootstrap = bootstrap
            .channelInitializer { channel in
                let handler = DNSUDPHandler(responder: live.attach(channel), ring: rings.ring(for: channel.eventLoop),
                                            localAddress: address.address, localPort: address.port)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: socketAddress).get()
        } catch {
            throw ListenError(address: address, protocolName: "udp", underlying: error)
        }
        let granted = (try? await channel.getOption(.socketOption(.so_rcvbuf)).get()) ?? 0
        var metadata: Logger.Metadata = [
            "listen.address": "\(channel.localAddress.flatMap(ListenAddress.init(socketAddress:))?.description ?? address.description)",
            "listen.protocol": "udp",
            "socket.rcvbuf_bytes": "\(granted)",
        ]
        // Linux reports double the usable size; below the request means net.core.rmem_max capped it.
        if granted < Self.receiveBufferBytes {
            metadata["hint"] = "raise net.core.rmem_max to at least \(Self.receiveBufferBytes) so bursts are not dropped by the kernel"
        }
        logger.info("dns listener bound", metadata: metadata)
        return channel
    }
}

/// A listener that could not be bound, naming the address and protocol.
public struct ListenError: Error, CustomStringConvertible {
    public let address: ListenAddress
    public let protocolName: String
    public let underlying: any Error

    public var description: String { "cannot listen on \(address) (\(protocolName)): \(underlying)" }
}

extension ListenAddress {
    /// The address a NIO channel is bound to (port 0 in the configuration becomes the real port).
    init?(socketAddress: SocketAddress) {
        guard let endpoint = socketAddress.sinkholeEndpoint else { return nil }
        self.init(endpoint.address, port: endpoint.port)
    }
}
