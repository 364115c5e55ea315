import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SinkholeFeeds
import SinkholeHTTP
import SinkholeStore
import SinkholeCore
import Synchronization

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
        let context = try feedTLSContext(configuration)
        logger.info("feeds loaded", metadata: ["feeds.summary": "\(attributor.summary)"])
        return FeedSetup(attributor: attributor, context: context)
    }

    /// The feed API's TLS context from `feeds.tls_certificate`/`tls_key`, nil without them.
    /// Unlike the bots' listeners (TLS 1.0 up: old bots are the point), NIOSSL's defaults: ISPs
    /// fetch with current clients, and their tokens deserve current TLS.
    public static func feedTLSContext(_ configuration: SinkholeConfiguration) throws -> NIOSSLContext? {
        let feeds = configuration.feeds
        guard let certificate = feeds.tlsCertificate, let key = feeds.tlsKey else { return nil }
        let pem: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)
        do {
            pem = try TLSCertificates.readPEM(certificateFile: certificate, keyFile: key)
        } catch {
            throw StartupError(description: "feeds.tls_certificate / feeds.tls_key: \(error)")
        }
        do {
            return try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: pem.chain.map { .certificate($0) }, privateKey: .privateKey(pem.key)))
        } catch {
            throw StartupError(description: "feeds.tls_certificate / feeds.tls_key: the key in \(key) does not go with the certificate in \(certificate): \(error)")
        }
    }

    /// The API service over `setup`, reading the store (SQLite or PostgreSQL) with a read-only
    /// connection of its own per request.
    func makeFeedAPIService(_ setup: FeedSetup, socket: TCPListenSocket, group: any EventLoopGroup, pool: NIOThreadPool,
                            onBound: @escaping @Sendable (ListenAddress) -> Void) -> (FeedAPIService, FeedAPIState) {
        let feeds = configuration.feeds
        let store = configuration.store
        let state = FeedAPIState(
            .init(directory: setup.attributor.directory, attributor: setup.attributor),
            limiter: FeedRateLimiter(perMinute: feeds.rateLimitPerMinute, burst: feeds.rateLimitBurst),
            pool: pool, logger: logger,
            openReader: { try store.dayReader() })
        let service = FeedAPIService(socket: socket, group: group, state: state, context: setup.context,
                                     logger: logger, onBound: onBound)
        return (service, state)
    }

    /// SIGHUP: reads the ISP directory and prefix2as files again; on any error the previous
    /// ones stay in force. Returns what happened in a line (systemd's status after the reload).
    @discardableResult
    func reloadFeeds(into state: FeedAPIState, sourceNetworks: SourceNetworks? = nil) -> String {
        do {
            let attributor = try configuration.feeds.load()
            state.update(.init(directory: attributor.directory, attributor: attributor))
            sourceNetworks?.replace(attributor.asnMap)
            logger.notice("feeds reloaded", metadata: ["feeds.summary": "\(attributor.summary)"])
            return "feeds reloaded"
        } catch {
            logger.error("feeds reload failed; the previous ISP directory and ASN map stay in force",
                         metadata: ["error": "\(error)"])
            return "feeds reload failed, the previous ones stay in force: \(error)"
        }
    }
}

/// The ASN map the writer's /status summary ranks source networks by, swapped on reload.
final class SourceNetworks: Sendable {
    private let map: Mutex<ASNMap?>
    /// Whether the feeds had a prefix2as file at start (no map: no ranking on the page).
    let hasMap: Bool

    init(_ map: ASNMap?) {
        self.map = Mutex(map)
        hasMap = map != nil
    }

    func replace(_ newMap: ASNMap?) {
        if let newMap { map.withLock { $0 = newMap } }
    }

    /// Called by the writer once per address new today, never per event.
    func asn(for address: IPAddress) -> UInt32? {
        map.withLock { $0 }?.asn(for: address)
    }
}
