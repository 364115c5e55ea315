import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SinkholeFeeds
import SinkholeStore

extension Sinkhole {
    /// What the feed API needs, made in `init` so a broken ISP directory, prefix2as file or
    /// certificate stops the start: nil when the configuration has no `feeds` section.
    struct FeedSetup: Sendable {
        let attributor: AddressAttributor
        let context: NIOSSLContext?
    }

    static func makeFeedSetup(_ configuration: SinkholeConfiguration, logger: Logger) throws -> FeedSetup? {
        let feeds = configuration.feeds
        guard feeds.isConfigured else { return nil }
        let attributor: AddressAttributor
        do {
            attributor = try feeds.load()
        } catch {
            throw StartupError(description: "feeds: \(error)")
        }
        var context: NIOSSLContext?
        if let certificate = feeds.tlsCertificate, let key = feeds.tlsKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificate)
                let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
                context = try NIOSSLContext(configuration: .makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey)))
            } catch {
                throw StartupError(description: "feeds.tls_certificate / feeds.tls_key: \(error)")
            }
        }
        logger.info("feeds loaded", metadata: ["feeds.summary": "\(attributor.summary)"])
        return FeedSetup(attributor: attributor, context: context)
    }

    /// The API service over `setup`, reading the store (SQLite or PostgreSQL) with a read-only
    /// connection of its own per request.
    func makeFeedAPIService(_ setup: FeedSetup, group: any EventLoopGroup, pool: NIOThreadPool,
                            onBound: @escaping @Sendable (ListenAddress) -> Void) -> (FeedAPIService, FeedAPIState) {
        let feeds = configuration.feeds
        let store = configuration.store
        let state = FeedAPIState(
            .init(directory: setup.attributor.directory, attributor: setup.attributor),
            limiter: FeedRateLimiter(perMinute: feeds.rateLimitPerMinute, burst: feeds.rateLimitBurst),
            pool: pool, logger: logger,
            openReader: { try store.dayReader() })
        let service = FeedAPIService(listen: feeds.listen, group: group, state: state, context: setup.context,
                                     logger: logger, onBound: onBound)
        return (service, state)
    }

    /// SIGHUP: reads the ISP directory and prefix2as files again; on any error the previous
    /// ones stay in force.
    func reloadFeeds(into state: FeedAPIState) {
        do {
            let attributor = try configuration.feeds.load()
            state.update(.init(directory: attributor.directory, attributor: attributor))
            logger.notice("feeds reloaded", metadata: ["feeds.summary": "\(attributor.summary)"])
        } catch {
            logger.error("feeds reload failed; the previous ISP directory and ASN map stay in force",
                         metadata: ["error": "\(error)"])
        }
    }
}
