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
    /// The listener (`feeds.listen`), bound or adopted by `ListenerSockets`.
    let socket: TCPListenSocket
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
        let (state, context, readTimeout, writeTimeout) = (self.state, self.context, self.readTimeout, self.writeTimeout)
        let bootstrap = socket.bootstrap(group: group).childChannelInitializer { channel in
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
        let channel = try await socket.serve(with: bootstrap, protocolName: "feeds")
        let bound = socket.local
        logger.info("feed API listening", metadata: ["listen.address": "\(bound)", "feeds.tls": "\(context != nil)"])
        onBound(bound)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
