import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SinkholeFeeds

/// The feed API on `feeds.listen`: ISPs fetch their own check-ins and infections with a bearer
/// token (`FeedAPIHandler`). Over TLS when `context` is set; configuration refuses a listen
/// address beyond loopback without it, so tokens never cross a network in clear.
struct FeedAPIService: Service {
    let listen: ListenAddress
    let group: any EventLoopGroup
    let state: FeedAPIState
    let context: NIOSSLContext?
    let logger: Logger
    /// A request not complete this long after the last byte is dropped (slowloris); an answer
    /// the client has taken nothing of for `writeTimeout` is cut.
    var readTimeout: TimeAmount = .seconds(30)
    var writeTimeout: TimeAmount = .seconds(60)
    var onBound: @Sendable (ListenAddress) -> Void = { _ in }

    func run() async throws {
        let socketAddress = try listen.socketAddress(protocolName: "feeds")
        let (state, context, readTimeout, writeTimeout) = (self.state, self.context, self.readTimeout, self.writeTimeout)
        let bootstrap = listen.tcpBootstrap(group: group, backlog: 128).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                if let context {
                    try pipeline.addHandler(NIOSSLServerHandler(context: context))
                }
                try pipeline.addHandler(IdleStateHandler(readTimeout: readTimeout, writeTimeout: writeTimeout))
                try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                try pipeline.addHandler(FeedAPIHandler(state: state))
            }
        }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: socketAddress).get()
        } catch {
            throw ListenError(address: listen, protocolName: "feeds", underlying: error)
        }
        let bound = channel.localAddress.flatMap(ListenAddress.init(socketAddress:)) ?? listen
        logger.info("feed API listening", metadata: ["listen.address": "\(bound)", "feeds.tls": "\(context != nil)"])
        onBound(bound)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
