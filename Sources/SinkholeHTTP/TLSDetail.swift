import SinkholeCore

/// The TLS side of one connection as the sinkhole saw it: the client's hello, what the
/// sinkhole's hello chose, whether the handshake completed. Every check-in of the connection
/// carries it (`fill`).
public struct TLSDetail: Sendable, Hashable {
    /// The SNI as received, whole (the check-in keeps its first `CheckIn.Limits.tlsServerName`
    /// bytes).
    public var serverName = BoundedBytes<255>()
    /// The family of the seized name the SNI is under; empty when it is under none.
    public var family = BoundedBytes<32>()
    public var offeredVersion: UInt16 = 0
    public var offeredCipher: UInt16 = 0
    public var offeredCipherCount: UInt8 = 0
    /// From the sinkhole's hello; 0 until it is sent.
    public var version: UInt16 = 0
    public var cipher: UInt16 = 0
    public var completed = false
    /// When the client's hello was read whole: the time of the check-in of a connection that
    /// never got as far as a request.
    public var helloTime: UTCTime
    /// The first bytes of a hello the sinkhole could not read; empty for a readable one.
    public var firstBytes = BoundedBytes<64>()

    public init(helloTime: UTCTime) {
        self.helloTime = helloTime
    }

    /// What a client's hello offered.
    public init(hello: TLSClientHello, family: BoundedBytes<32>, at helloTime: UTCTime) {
        self.helloTime = helloTime
        self.family = family
        serverName = hello.serverName
        offeredVersion = hello.offeredVersion
        let offered = hello.offeredCipherSuites
        offeredCipher = offered.first ?? 0
        offeredCipherCount = UInt8(clamping: offered.count)
    }

    /// Copies the TLS detail into `checkIn` and makes it a `tls` check-in named by the SNI
    /// (a request's Host, filled in after, takes the name over).
    public func fill(_ checkIn: inout CheckIn) {
        checkIn.service = .tls
        checkIn.name = serverName
        checkIn.tlsServerName = BoundedBytes<64>()
        serverName.withBytes { for byte in $0 { checkIn.tlsServerName.append(byte) } }
        if serverName.truncated { checkIn.tlsServerName.markTruncated() }
        checkIn.tlsOfferedVersion = offeredVersion
        checkIn.tlsOfferedCipher = offeredCipher
        checkIn.tlsOfferedCipherCount = offeredCipherCount
        checkIn.tlsCompleted = completed
        checkIn.tlsVersion = version
        checkIn.tlsCipher = cipher
        if checkIn.firstBytes.isEmpty { checkIn.firstBytes = firstBytes }
    }
}

/// What `TLSHelloHandler` tells the handler serving the connection behind the TLS layer (a
/// user inbound event: the handlers share nothing but the pipeline).
public enum TLSHelloEvent: Sendable {
    /// The client's hello was read (or could not be, and `firstBytes` has its start).
    case client(TLSDetail)
    /// The sinkhole's hello went out with this version and cipher suite.
    case server(TLSServerHello)
}
