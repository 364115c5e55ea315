import Foundation
import Logging
import NIOCore
import NIOPosix
import SinkholeCore
import SinkholeDNS

/// A TCP listener's descriptor, bound (or adopted) and listening, not yet handed to NIO.
struct TCPListenSocket: Sendable {
    let descriptor: Int32
    let local: ListenAddress

    /// A bootstrap as every sinkhole TCP service wants it: TCP_NODELAY, since replies are whole
    /// messages written once. The socket options of the listener itself (SO_REUSEADDR,
    /// IPV6_V6ONLY, the backlog) were set when it was bound; IPV6_V6ONLY cannot change after.
    /// tcpOption, not socketOption: at SOL_SOCKET, TCP_NODELAY's number (1) is SO_DEBUG, which
    /// needs CAP_NET_ADMIN; an unprivileged daemon's every accepted connection was closed.
    func bootstrap(group: any EventLoopGroup) -> ServerBootstrap {
        ServerBootstrap(group: group).childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    }

    /// Hands the descriptor to NIO, which owns (and closes) it from then on.
    func serve(with bootstrap: ServerBootstrap, protocolName: String) async throws -> any Channel {
        do {
            return try await bootstrap.withBoundSocket(descriptor).get()
        } catch {
            throw ListenError(address: local, protocolName: protocolName, underlying: error)
        }
    }
}

/// A TCP listener NIO serves, and the table of its open connections.
struct TCPListener {
    let channel: any Channel
    let connections: DNSTCPConnections
}

extension Array where Element == TCPListenSocket {
    /// Hands every socket to NIO with `serve`. When one fails, the listeners already serving are
    /// closed and the descriptors not yet handed over are closed too, then the error is thrown:
    /// a failed start leaves no socket behind.
    func serveAll(_ serve: (TCPListenSocket) async throws -> TCPListener) async throws -> [TCPListener] {
        var listeners: [TCPListener] = []
        for (index, socket) in enumerated() {
            do {
                listeners.append(try await serve(socket))
            } catch {
                for unserved in self[(index + 1)...] { close(unserved.descriptor) }
                for listener in listeners {
                    try? await listener.channel.close()
                    _ = listener.connections.closeAll()
                }
                throw error
            }
        }
        return listeners
    }
}

/// Every listening socket of a run, bound by the sinkhole or adopted from systemd before any
/// service starts, so that capture can open and root can be dropped before a single packet is
/// read (`user:`), and so that socket activation and binding feed the services one way.
///
/// Nothing is read from these sockets until the services take them: the kernel queues what
/// arrives meanwhile.
struct ListenerSockets: Sendable {
    /// TCP listeners by service, in configuration order (named sockets after them).
    private(set) var tcp: [ListenerRole: [TCPListenSocket]] = [:]
    /// The DNS UDP sockets of each worker: `dnsUDP[w][a]` is worker w's socket for address a.
    /// Bound sockets are one per worker (SO_REUSEPORT); an adopted one is shared (duplicated).
    private(set) var dnsUDP: [[UDPListenSocket]]
    /// The catch-all UDP sockets (one worker serves them all).
    private(set) var catchAllUDP: [UDPListenSocket] = []

    private init(dnsWorkers: Int) {
        dnsUDP = Array(repeating: [], count: dnsWorkers)
    }

    func tcp(_ role: ListenerRole) -> [TCPListenSocket] { tcp[role] ?? [] }

    /// Adopts the plan's passed sockets and binds the rest. On any failure every socket opened
    /// so far is closed and the error names the listener.
    static func open(_ plan: ListenerPlan, dnsWorkers: Int, logger: Logger) throws -> ListenerSockets {
        var sockets = ListenerSockets(dnsWorkers: dnsWorkers)
        do {
            for (endpoint, passed) in plan.adopted {
                try sockets.adopt(passed, as: endpoint, logger: logger)
            }
            // The port a DNS TCP listener got, for the UDP sockets of a configured port 0.
            var dnsPorts: [ListenAddress: UInt16] = [:]
            for endpoint in plan.toBind {
                let address = endpoint.address
                switch (endpoint.role, endpoint.transport) {
                case (.dns, .udp):
                    let port = address.port == 0 ? dnsPorts[address] ?? 0 : address.port
                    try sockets.bindDNSUDP(ListenAddress(address.address, port: port), logger: logger)
                case (.catchAll, .udp):
                    try sockets.bindCatchAllUDP(address, logger: logger)
                case (let role, .tcp):
                    let fd: Int32
                    do {
                        fd = try ListenSocketCalls.listenTCP(address, backlog: role.backlog)
                    } catch {
                        throw ListenError(address: address, protocolName: "\(role) tcp", underlying: error)
                    }
                    let bound = ListenAddress(address.address, port: UDPSocket.boundPort(fd))
                    if role == .dns { dnsPorts[address] = bound.port }
                    sockets.tcp[role, default: []].append(TCPListenSocket(descriptor: fd, local: bound))
                case (let role, .udp):
                    preconditionFailure("\(role) has no UDP listener")
                }
            }
        } catch {
            sockets.closeAll()
            throw error
        }
        return sockets
    }

    /// Closes every descriptor (a start that failed before the services took them).
    func closeAll() {
        for socket in tcp.values.joined() { close(socket.descriptor) }
        for socket in dnsUDP.joined() { close(socket.descriptor) }
        for socket in catchAllUDP { close(socket.descriptor) }
    }

    private mutating func adopt(_ passed: PassedSocket, as endpoint: ListenerEndpoint, logger: Logger) throws {
        let fd = passed.descriptor
        do {
            switch (endpoint.role, passed.transport) {
            case (let role, .tcp):
                try ListenSocketCalls.adoptTCP(fd)
                tcp[role, default: []].append(TCPListenSocket(descriptor: fd, local: passed.address))
            case (.dns, .udp):
                try ListenSocketCalls.adoptUDP(fd, family: passed.address.address.family,
                                               receiveBufferBytes: DNSService.receiveBufferBytes)
                for worker in dnsUDP.indices {
                    let descriptor = worker == 0 ? fd : try ListenSocketCalls.duplicate(fd)
                    dnsUDP[worker].append(UDPListenSocket(descriptor: descriptor, local: passed.address))
                }
            case (.catchAll, .udp):
                try ListenSocketCalls.adoptUDP(fd, family: passed.address.address.family,
                                               receiveBufferBytes: CatchAllService.receiveBufferBytes)
                if let refused = try UDPSocket.recoverOriginalDestination(fd, family: passed.address.address.family) {
                    Self.warnNotTransparent(passed.address, errno: refused, logger: logger)
                }
                catchAllUDP.append(UDPListenSocket(descriptor: fd, local: passed.address))
            case (let role, .udp):
                preconditionFailure("\(role) has no UDP listener")
            }
        } catch {
            throw SocketActivationError("\(passed): \(error)")
        }
        var metadata: Logger.Metadata = [
            "listen.address": "\(passed.address)", "listen.protocol": "\(passed.transport)",
            "socket.descriptor": "\(fd)", "socket.name": "\(passed.name)",
        ]
        if passed.transport == .udp { metadata["socket.rcvbuf_bytes"] = "\(UDPSocket.receiveBufferBytes(fd))" }
        logger.info("\(endpoint.role) listener adopted from systemd", metadata: metadata)
    }

    /// One SO_REUSEPORT socket per worker on `address`; the first is logged with the receive
    /// buffer the kernel granted.
    private mutating func bindDNSUDP(_ address: ListenAddress, logger: Logger) throws {
        for worker in dnsUDP.indices {
            let fd: Int32
            do {
                fd = try UDPSocket.open(address, reusePort: true, receiveBufferBytes: DNSService.receiveBufferBytes)
            } catch {
                throw ListenError(address: address, protocolName: "dns udp", underlying: error)
            }
            dnsUDP[worker].append(UDPListenSocket(descriptor: fd, local: address))
            guard worker == 0 else { continue }
            let granted = UDPSocket.receiveBufferBytes(fd)
            var metadata: Logger.Metadata = [
                "listen.address": "\(address)", "listen.protocol": "udp",
                "udp.workers": "\(dnsUDP.count)", "socket.rcvbuf_bytes": "\(granted)",
            ]
            // Linux reports double the usable size; below the request means net.core.rmem_max capped it.
            if granted < DNSService.receiveBufferBytes {
                metadata["hint"] = "raise net.core.rmem_max to at least \(DNSService.receiveBufferBytes) (Deploy/sysctl.d/sinkhole.conf) so bursts are not dropped by the kernel"
            }
            logger.info("dns listener bound", metadata: metadata)
        }
    }

    /// A UDP socket that learns each datagram's original destination. Transparency (what
    /// tproxy needs) is asked for and, when refused, logged: the listener still logs what is
    /// sent to its own port, which is all a loopback test or `make run` sends.
    private mutating func bindCatchAllUDP(_ address: ListenAddress, logger: Logger) throws {
        let descriptor: Int32
        let transparencyRefused: Int32?
        do {
            descriptor = try UDPSocket.open(address, reusePort: false, receiveBufferBytes: CatchAllService.receiveBufferBytes)
            do {
                transparencyRefused = try UDPSocket.recoverOriginalDestination(descriptor, family: address.address.family)
            } catch {
                close(descriptor)
                throw error
            }
        } catch {
            throw ListenError(address: address, protocolName: "catch-all udp", underlying: error)
        }
        let bound = ListenAddress(address.address, port: UDPSocket.boundPort(descriptor))
        catchAllUDP.append(UDPListenSocket(descriptor: descriptor, local: bound))
        if let errno = transparencyRefused {
            Self.warnNotTransparent(bound, errno: errno, logger: logger)
        } else {
            logger.info("catch-all listener bound", metadata: [
                "listen.address": "\(bound)", "listen.protocol": "udp", "udp.transparent": "yes",
            ])
        }
    }

    /// A catch-all UDP socket that nftables `tproxy` cannot deliver to: it still takes what is
    /// sent to its own address and port.
    private static func warnNotTransparent(_ address: ListenAddress, errno: Int32, logger: Logger) {
        logger.warning("catch-all listener bound", metadata: [
            "listen.address": "\(address)", "listen.protocol": "udp",
            "udp.transparent": "no: \(String(cString: strerror(errno)))",
            "hint": "nftables tproxy delivers only to a transparent socket: grant CAP_NET_RAW (AmbientCapabilities) to catch redirected UDP",
        ])
    }
}

/// A listener that could not be bound, naming the address and protocol.
public struct ListenError: Error, CustomStringConvertible {
    public let address: ListenAddress
    public let protocolName: String
    public let underlying: any Error

    public var description: String { "cannot listen on \(address) (\(protocolName)): \(underlying)" }
}
