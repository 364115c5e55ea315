/// Names for the TLS code points a `CheckIn` holds, as the store and the exports write them.
///
/// Cipher suites by their IANA registry names (`TLS_AES_128_GCM_SHA256`), which are also what
/// OpenSSL's `-stdname` and Shadowserver's `ssl_cipher` use; versions as OpenSSL prints them
/// (`TLSv1.3`). A code point not in the table is written as hex (`0x00c4`), so nothing is lost:
/// the table only needs the suites bots and their libraries actually offer.
public enum TLSNames {
    /// The IANA name of cipher suite `code`, or `0x` and four hex digits.
    public static func cipherSuite(_ code: UInt16) -> String {
        cipherSuites[code] ?? hex(code)
    }

    /// `SSLv3`, `TLSv1.0` … `TLSv1.3`, or `0x` and four hex digits for anything else (a
    /// draft version, a GREASE value).
    public static func version(_ code: UInt16) -> String {
        switch code {
        case 0x0300: "SSLv3"
        case 0x0301: "TLSv1.0"
        case 0x0302: "TLSv1.1"
        case 0x0303: "TLSv1.2"
        case 0x0304: "TLSv1.3"
        default: hex(code)
        }
    }

    static func hex(_ code: UInt16) -> String {
        let digits = Array("0123456789abcdef".utf8)
        let bytes: [UInt8] = [UInt8(ascii: "0"), UInt8(ascii: "x"),
                              digits[Int(code >> 12)], digits[Int(code >> 8 & 0xf)],
                              digits[Int(code >> 4 & 0xf)], digits[Int(code & 0xf)]]
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The suites of TLS 1.3, of ECDHE, DHE and RSA key exchange with AES, ChaCha20, 3DES, RC4,
    /// DES and NULL (what old bots' SChannel and OpenSSL builds offer), and the two signalling
    /// values. From the IANA "TLS Cipher Suites" registry.
    static let cipherSuites: [UInt16: String] = [
        0x0000: "TLS_NULL_WITH_NULL_NULL",
        0x0001: "TLS_RSA_WITH_NULL_MD5",
        0x0002: "TLS_RSA_WITH_NULL_SHA",
        0x0004: "TLS_RSA_WITH_RC4_128_MD5",
        0x0005: "TLS_RSA_WITH_RC4_128_SHA",
        0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
        0x000a: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
        0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002f: "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
        0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
        0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x003b: "TLS_RSA_WITH_NULL_SHA256",
        0x003c: "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d: "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
        0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006a: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
        0x006b: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x009c: "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d: "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009e: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x00a2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
        0x00a3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
        0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x1301: "TLS_AES_128_GCM_SHA256",
        0x1302: "TLS_AES_256_GCM_SHA384",
        0x1303: "TLS_CHACHA20_POLY1305_SHA256",
        0x1304: "TLS_AES_128_CCM_SHA256",
        0x1305: "TLS_AES_128_CCM_8_SHA256",
        0x5600: "TLS_FALLBACK_SCSV",
        0xc007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xc008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xc009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xc012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xc013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xccaa: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]
}
