import Crypto
import Foundation
import NIOSSL
import SinkholeCore
import SwiftASN1
import X509

/// Signs the sinkhole's own certificates when the operator configured none: one P-256 key made
/// at start and kept in memory only, each certificate self-signed with it.
///
/// Bots rarely validate (a seized C&C's real certificate is gone anyway); what matters is that
/// the handshake completes so the request inside can be logged, and that an analyst or a
/// browser that looks sees names that fit. Certificates are valid from a day before they are
/// made (bots' clocks are often wrong) for a year; a restart makes new ones.
public struct SelfSignedCertificate: Sendable {
    /// A certificate and its key, in the form NIOSSL takes.
    public struct Identity: Sendable {
        public let certificate: NIOSSLCertificate
        public let key: NIOSSLPrivateKey
    }

    /// RFC 5280 upper bound on a common name (`ub-common-name`); a longer apex is named in the
    /// subject alternative names only.
    static let maximumCommonName = 64
    /// IP addresses named by the default certificate, at most.
    public static let maximumAddresses = 64

    private let key: P256.Signing.PrivateKey
    private let nioKey: NIOSSLPrivateKey
    private let addresses: [IPAddress]
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - addresses: what the default certificate names (the sinkhole's and the seized C&C
    ///     addresses: a bot that connects to an address without SNI sees it named); the first
    ///     `maximumAddresses` are kept.
    ///   - now: the clock the validity starts from.
    public init(addresses: [IPAddress], now: @escaping @Sendable () -> Date = Date.init) throws {
        key = P256.Signing.PrivateKey()
        nioKey = try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
        self.addresses = Array(addresses.prefix(Self.maximumAddresses))
        self.now = now
    }

    /// The certificate for no SNI, or an SNI that is not seized: `CN=sinkhole`, naming the
    /// addresses given at init.
    public func defaultCertificate() throws -> Identity {
        try sign(commonName: "sinkhole", names: addresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0.bytes))) })
    }

    /// The certificate for names under the seized `apex`: the apex and `*.apex`.
    public func certificate(apex: String) throws -> Identity {
        let commonName = apex.utf8.count <= Self.maximumCommonName ? apex : "sinkhole"
        return try sign(commonName: commonName, names: [.dnsName(apex), .dnsName("*." + apex)])
    }

    private func sign(commonName: String, names: [GeneralName]) throws -> Identity {
        let subject = try DistinguishedName { CommonName(commonName) }
        let start = now().addingTimeInterval(-86_400)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            if !names.isEmpty { SubjectAlternativeNames(names) }
        }
        let privateKey = Certificate.PrivateKey(key)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: start, notValidAfter: start.addingTimeInterval(366 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: privateKey)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Identity(certificate: try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der), key: nioKey)
    }
}
