import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The observability listener on `metrics.listen`: /metrics, /healthz, /readyz, /status
/// (`ObservabilityHandler`). Placed in the service group right after the writer, so it stops
/// second to last: while the responders drain, /readyz still answers "stopping".
struct MetricsService: Service {
    /// The listener (`metrics.listen`), bound or adopted by `ListenerSockets`.
    let socket: TCPListenSocket
    let group: any EventLoopGroup
    let metrics: SinkholeMetrics
    let sources: MetricSources
    let logger: Logger
    /// A scraper that opens a connection and sends nothing is closed after this.
    var readTimeout: TimeAmount = .seconds(30)
    var onBound: @Sendable (ListenAddress) -> Void = { _ in }

    func run() async throws {
        let (metrics, sources, readTimeout) = (self.metrics, self.sources, self.readTimeout)
        let bootstrap = socket.bootstrap(group: group).childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(IdleStateHandler(readTimeout: readTimeout))
                try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                try pipeline.addHandler(ObservabilityHandler(metrics: metrics, sources: sources))
            }
        }
        let channel = try await socket.serve(with: bootstrap, protocolName: "metrics")
        let bound = socket.local
        logger.info("metrics listening", metadata: [
            "listen.address": "\(bound)",
            "metrics.urls": "http://\(bound)/metrics /healthz /readyz /status",
        ])
        onBound(bound)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// Last in the service group, so the first told of a graceful shutdown: /readyz turns 503
/// ("stopping") before any listener closes.
struct StopNoticeService: Service {
    let sources: MetricSources

    func run() async throws {
        try? await gracefulShutdown()
        sources.beginStopping()
    }
}
