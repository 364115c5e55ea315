import NIOSSL
import SinkholeCore
import SinkholeDNS
import Synchronization

/// The certificates the TLS listeners present: the operator's, or ones the sinkhole makes.
///
/// With a configured certificate and key, every connection gets that one. Without, the
/// sinkhole signs its own (`SelfSignedCertificate`) and picks one per connection from the SNI
/// it read in the hello: a name under a seized apex gets a certificate for the apex and
/// `*.apex`; no SNI, or one not seized, gets the default certificate (naming the sinkhole and
/// seized addresses). Why per apex, made on demand:
/// - one certificate naming every seized name cannot be made: there may be a million, and
///   clients refuse certificates with more than a few thousand names long before that;
/// - per SNI would make one per DGA name a bot tries; per apex covers the apex and its
///   subdomains one level down with one signature (deeper names get a name mismatch, which
///   bots, who rarely validate, ignore just as they ignore the self-signed issuer).
/// Made contexts are kept in a small LRU cache shared by every connection: a busy family's
/// certificate is signed once, and a flood of distinct apexes costs a signature each
/// (a fraction of a millisecond) without growing memory past `cacheCapacity` contexts.
public final class TLSCertificates: Sendable {
    /// Contexts kept for seized apexes, most recently used first out last.
    public static let cacheCapacity = 256

    private enum Source: Sendable {
        case configured(NIOSSLContext)
        case selfSigned(SelfSignedCertificate, fallback: NIOSSLContext)
    }

    private let source: Source
    private let cache: Mutex<ContextCache>

    /// Every connection gets the operator's certificate chain and key.
    public init(configured context: NIOSSLContext) {
        source = .configured(context)
        cache = Mutex(ContextCache(capacity: 0))
    }

    /// The operator's certificate chain (PEM, leaf first) and private key (PEM, not encrypted),
    /// read and checked now: a file that cannot be read, holds no certificate, or a key that
    /// does not match the certificate is an error naming the file, before any listener binds.
    public convenience init(certificateFile: String, keyFile: String) throws(TLSCertificateError) {
        let (chain, key) = try Self.readPEM(certificateFile: certificateFile, keyFile: keyFile)
        do {
            self.init(configured: try Self.serverContext(chain, key: key))
        } catch {
            throw TLSCertificateError(description: "the key in \(keyFile) does not go with the certificate in \(certificateFile): \(error)")
        }
    }

    /// Reads a PEM certificate chain (leaf first) and its unencrypted PEM key, saying which
    /// file is wrong and how.
    public static func readPEM(certificateFile: String, keyFile: String) throws(TLSCertificateError)
        -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw TLSCertificateError(description: "cannot read a PEM certificate from \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else {
            throw TLSCertificateError(description: "\(certificateFile) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw TLSCertificateError(description: "cannot read a PEM private key (not encrypted) from \(keyFile): \(error)")
        }
        return (chain, key)
    }

    /// Certificates signed by the sinkhole: `signer`'s default one for no or unseized SNI, one
    /// per seized apex for the rest.
    public init(selfSigned signer: SelfSignedCertificate) throws {
        source = .selfSigned(signer, fallback: try Self.serverContext(signer.defaultCertificate()))
        cache = Mutex(ContextCache(capacity: Self.cacheCapacity))
    }

    /// A server context presenting `chain` with `key`, accepting every version and cipher suite
    /// BoringSSL still has (TLS 1.0 up: old bots are the point), asking for no client certificate.
    public static func serverContext(_ chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv1
        return try NIOSSLContext(configuration: configuration)
    }

    static func serverContext(_ identity: SelfSignedCertificate.Identity) throws -> NIOSSLContext {
        try serverContext([identity.certificate], key: identity.key)
    }

    /// The context for a connection whose hello named a name under the seized apex `match`
    /// (nil: no SNI, or not seized).
    public func context(for match: SeizedZones.Match?) -> NIOSSLContext {
        switch source {
        case .configured(let context):
            return context
        case .selfSigned(let signer, let fallback):
            guard let apex = match?.apex else { return fallback }
            if let cached = cache.withLock({ $0.get(apex) }) { return cached }
            // Signed outside the lock: two loops missing the same apex at once each sign one,
            // and the second to finish is kept; no loop waits for another's signature.
            guard let made = try? Self.serverContext(signer.certificate(apex: apex)) else { return fallback }
            cache.withLock { $0.put(apex, made) }
            return made
        }
    }

    /// What the listeners present, for the start log.
    public var summary: String {
        switch source {
        case .configured: "configured"
        case .selfSigned: "self-signed, one per seized apex (up to \(Self.cacheCapacity) kept), a default one otherwise"
        }
    }

    /// Apexes with a context in the cache (for tests and metrics).
    public var cachedApexes: Int { cache.withLock { $0.entries.count } }
}

/// A bounded map from apex to context that forgets the least recently used entry when full.
/// Eviction scans the entries (at most `capacity`): it only runs on a miss, which has just
/// paid for a signature, so a list threaded through the entries would save nothing measurable.
struct ContextCache: ~Copyable {
    let capacity: Int
    var entries: [String: (context: NIOSSLContext, lastUse: UInt64)] = [:]
    var tick: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    mutating func get(_ apex: String) -> NIOSSLContext? {
        guard let entry = entries[apex] else { return nil }
        tick += 1
        entries[apex]?.lastUse = tick
        return entry.context
    }

    mutating func put(_ apex: String, _ context: NIOSSLContext) {
        guard capacity > 0 else { return }
        tick += 1
        if entries[apex] == nil && entries.count >= capacity,
           let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            entries[oldest] = nil
        }
        entries[apex] = (context, tick)
    }
}

/// A configured certificate or key that cannot be used, said so the operator can fix it.
public struct TLSCertificateError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
