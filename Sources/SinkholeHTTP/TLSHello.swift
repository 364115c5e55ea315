import SinkholeCore

/// The first handshake message of a TLS connection, read from the plaintext records that
/// carry it: the client's hello on the way in, the server's hello on the way out.
///
/// Pure: bytes in, a value out. It never traps and never reads past its input, whatever the
/// bytes claim (each length is checked against what is left before it is used), so the
/// sinkhole can read a bot's hello itself, before BoringSSL sees it, and log the SNI and the
/// offered ciphers even when the handshake then fails.
public enum TLSHello {
    /// RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes.
    public static let maximumRecordLength = 16_384
    /// Record bytes scanned for one hello before giving up. A hello fits one record in
    /// practice (about 1.8 KiB with a post-quantum key share); more than this many bytes of
    /// records without a whole hello is an attack on the buffer, not a client.
    public static let maximumScannedBytes = 2 * (maximumRecordLength + 5)

    /// What the bytes read so far hold.
    public enum Scan: Sendable, Equatable {
        /// A hello may still arrive: the records read so far are whole but end before it.
        case needMoreBytes
        /// The first bytes are not a TLS handshake record (plaintext HTTP, an SSH banner, an
        /// SSLv2-format hello, which BoringSSL refuses too).
        case notTLS
        /// TLS records, but not carrying a usable hello.
        case malformed(TLSHelloError)
        /// The first handshake message, whole: its type (1 client hello, 2 server hello) and
        /// its body.
        case message(type: UInt8, body: [UInt8])
    }

    /// Reassembles the first handshake message from the records at the start of `bytes`
    /// (RFC 8446 §5.1: a handshake message may be split over several records).
    public static func scan(_ bytes: [UInt8]) -> Scan {
        // One byte is enough to tell: a handshake record starts 0x16, then major version 3.
        if let first = bytes.first, first != 0x16 { return .notTLS }
        if bytes.count >= 2 && bytes[1] != 0x03 { return .notTLS }
        var offset = 0
        var message: [UInt8] = []
        while true {
            guard bytes.count - offset >= 5 else { return .needMoreBytes }
            // Every record until the hello is whole must be a handshake record: an alert or
            // application data in the middle is a broken (or hostile) peer.
            guard bytes[offset] == 0x16, bytes[offset + 1] == 0x03 else { return .malformed(.interleavedRecord) }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard length > 0, length <= maximumRecordLength else { return .malformed(.badRecordLength) }
            guard offset + 5 + length <= maximumScannedBytes else { return .malformed(.tooLarge) }
            guard bytes.count - offset - 5 >= length else { return .needMoreBytes }
            message += bytes[(offset + 5)..<(offset + 5 + length)]
            offset += 5 + length
            if message.count >= 4 {
                let bodyLength = Int(message[1]) << 16 | Int(message[2]) << 8 | Int(message[3])
                guard bodyLength <= maximumScannedBytes else { return .malformed(.tooLarge) }
                if message.count >= 4 + bodyLength {
                    return .message(type: message[0], body: Array(message[4..<(4 + bodyLength)]))
                }
            }
        }
    }

    /// RFC 8701: GREASE values (0x0A0A, 0x1A1A, …, 0xFAFA) are sent to keep servers tolerant
    /// of unknown values and mean nothing; they are left out of what is logged.
    public static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
    }
}

/// Why TLS records did not yield a hello.
public enum TLSHelloError: UInt8, Error, Sendable, Hashable, CaseIterable {
    /// A record that is not a handshake record before the hello was whole.
    case interleavedRecord = 1
    /// A record of length 0 or over 2^14.
    case badRecordLength
    /// More bytes than `TLSHello.maximumScannedBytes` without a whole hello.
    case tooLarge
    /// The first handshake message is not the hello expected.
    case unexpectedMessage
    /// A length inside the hello runs past its end, or a field is out of range.
    case badHello
}

/// What the sinkhole keeps of a client's hello (RFC 8446 §4.1.2; the TLS 1.2 and earlier
/// hellos have the same layout, extensions optional).
public struct TLSClientHello: Sendable, Hashable {
    /// `legacy_version`: the version a TLS 1.2 or earlier client asks for (0x0303 from 1.3 clients).
    public var legacyVersion: UInt16 = 0
    /// The `supported_versions` extension (RFC 8446 §4.2.1) as offered, GREASE included;
    /// empty when the client sent none (TLS 1.2 and earlier).
    public var supportedVersions: [UInt16] = []
    /// The cipher suites as offered, in the client's order of preference, GREASE included.
    public var cipherSuites: [UInt16] = []
    /// The first `host_name` of the `server_name` extension (RFC 6066 §3), as received; empty
    /// when the client sent none.
    public var serverName = BoundedBytes<255>()

    public init() {}

    /// Reads the body of a client hello (the handshake message without its 4-byte header).
    public init(parsing body: [UInt8]) throws(TLSHelloError) {
        var reader = TLSWireReader(body)
        legacyVersion = try reader.readUInt16()
        try reader.skip(32)  // random
        try reader.skip(Int(try reader.readUInt8()))  // legacy_session_id
        let suitesLength = Int(try reader.readUInt16())
        guard suitesLength >= 2, suitesLength % 2 == 0 else { throw .badHello }
        var suites = try reader.sub(suitesLength)
        cipherSuites.reserveCapacity(suitesLength / 2)
        while !suites.isAtEnd { cipherSuites.append(try suites.readUInt16()) }
        let compressionLength = Int(try reader.readUInt8())
        guard compressionLength >= 1 else { throw .badHello }
        try reader.skip(compressionLength)
        // TLS 1.2 and earlier may end here (RFC 5246 §7.4.1.2).
        guard !reader.isAtEnd else { return }
        var extensions = try reader.sub(Int(try reader.readUInt16()))
        guard reader.isAtEnd else { throw .badHello }
        while !extensions.isAtEnd {
            let type = try extensions.readUInt16()
            var data = try extensions.sub(Int(try extensions.readUInt16()))
            switch type {
            case 0 where serverName.isEmpty:
                // ServerNameList: entries of (name_type, opaque<1..2^16-1>); type 0 is host_name.
                var names = try data.sub(Int(try data.readUInt16()))
                while !names.isAtEnd {
                    let nameType = try names.readUInt8()
                    let name = try names.sub(Int(try names.readUInt16()))
                    if nameType == 0 && serverName.isEmpty {
                        serverName = BoundedBytes(name.remainingBytes)
                        break
                    }
                }
            case 43 where supportedVersions.isEmpty:
                var versions = try data.sub(Int(try data.readUInt8()))
                guard versions.remaining % 2 == 0 else { throw .badHello }
                while !versions.isAtEnd { supportedVersions.append(try versions.readUInt16()) }
            default:
                break
            }
        }
    }

    /// The highest version offered: from `supported_versions` when sent, else `legacy_version`.
    public var offeredVersion: UInt16 {
        supportedVersions.filter { !TLSHello.isGREASE($0) }.max() ?? legacyVersion
    }

    /// The cipher suites offered, in order, without GREASE and without the signalling values
    /// that name no cipher (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`, RFC 5746; `TLS_FALLBACK_SCSV`,
    /// RFC 7507).
    public var offeredCipherSuites: [UInt16] {
        cipherSuites.filter { !TLSHello.isGREASE($0) && $0 != 0x00ff && $0 != 0x5600 }
    }
}

/// What the sinkhole keeps of the server's hello: the version and cipher suite the handshake
/// settled on (RFC 8446 §4.1.3; a HelloRetryRequest carries the final suite too, §4.1.4).
public struct TLSServerHello: Sendable, Hashable {
    /// The version chosen: `supported_versions` when present (TLS 1.3), else `legacy_version`.
    public var version: UInt16
    public var cipherSuite: UInt16

    public init(version: UInt16, cipherSuite: UInt16) {
        self.version = version
        self.cipherSuite = cipherSuite
    }

    /// Reads the body of a server hello (the handshake message without its 4-byte header).
    public init(parsing body: [UInt8]) throws(TLSHelloError) {
        var reader = TLSWireReader(body)
        version = try reader.readUInt16()
        try reader.skip(32)  // random
        try reader.skip(Int(try reader.readUInt8()))  // legacy_session_id_echo
        cipherSuite = try reader.readUInt16()
        _ = try reader.readUInt8()  // legacy_compression_method
        guard !reader.isAtEnd else { return }
        var extensions = try reader.sub(Int(try reader.readUInt16()))
        while !extensions.isAtEnd {
            let type = try extensions.readUInt16()
            var data = try extensions.sub(Int(try extensions.readUInt16()))
            if type == 43 { version = try data.readUInt16() }
        }
    }
}

/// A bounds-checked cursor over a hello, after Knot DNS's `wire_ctx` as `DNSWireReader` is:
/// every read checks what is left first and throws on overrun, so no input can trap. Its own
/// type because the hello is a plain byte array and its errors are `TLSHelloError`.
struct TLSWireReader {
    private let bytes: [UInt8]
    private var offset: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.init(bytes, from: 0, to: bytes.count)
    }

    private init(_ bytes: [UInt8], from start: Int, to end: Int) {
        self.bytes = bytes
        offset = start
        self.end = end
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }
    var remainingBytes: ArraySlice<UInt8> { bytes[offset..<end] }

    mutating func readUInt8() throws(TLSHelloError) -> UInt8 {
        guard remaining >= 1 else { throw .badHello }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt16() throws(TLSHelloError) -> UInt16 {
        guard remaining >= 2 else { throw .badHello }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func skip(_ count: Int) throws(TLSHelloError) {
        guard count >= 0, remaining >= count else { throw .badHello }
        offset += count
    }

    /// The next `count` bytes as a reader of their own (a length-prefixed vector), skipped here.
    mutating func sub(_ count: Int) throws(TLSHelloError) -> TLSWireReader {
        guard count >= 0, remaining >= count else { throw .badHello }
        defer { offset += count }
        return TLSWireReader(bytes, from: offset, to: offset + count)
    }
}
