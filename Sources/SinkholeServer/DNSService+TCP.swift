import Logging
import NIOCore
import NIOPosix
import SinkholeCore
import SinkholeDNS

extension DNSService {
    /// Serves DNS over TCP on `socket`. Each accepted connection is served on
    /// its own event loop (and pushes to that loop's ring), so a slow or stalled TCP client
    /// holds nothing but its own connection, and UDP, on its own worker threads, never waits
    /// for TCP at all.
    func serveTCP(_ socket: TCPListenSocket) async throws -> TCPListener {
        let live = self.live
        let rings = self.rings
        let configuration = self.tcp
        let connections = DNSTCPConnections(limit: tcpConnectionLimit)
        var bootstrap = socket.bootstrap(group: group)
        bootstrap = bootstrap.childChannelInitializer { channel in
            let handler = DNSTCPHandler(
                responder: live.attach(channel), ring: rings.ring(for: channel.eventLoop),
                configuration: configuration, connections: connections)
            return channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(ByteToMessageHandler(DNSTCPFrameDecoder()))
                // A client that sends queries but does not read the replies would otherwise
                // make the replies queue in memory without bound: stop reading until the
                // socket takes writes again (its idle or read timeout then closes it).
                try pipeline.addHandler(BackPressureHandler())
                try pipeline.addHandler(handler)
            }
        }
        let channel = try await socket.serve(with: bootstrap, protocolName: "dns tcp")
        logger.info("dns listener bound", metadata: [
            "listen.address": "\(socket.local)",
            "listen.protocol": "tcp",
            "tcp.max_connections": "\(connections.limit)",
            "tcp.idle_timeout_ms": "\(configuration.idleTimeout.nanoseconds / 1_000_000)",
            "tcp.read_timeout_ms": "\(configuration.readTimeout.nanoseconds / 1_000_000)",
        ])
        return TCPListener(channel: channel, connections: connections)
    }
}
