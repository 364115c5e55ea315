
/// Hellos for the TLS tests: one captured from a real client, and a builder for the odd ones.
enum TLSHelloFixtures {
    /// `openssl s_client -connect … -servername cc.botnet.example` (OpenSSL 3.0.19), the whole
    /// first record as it arrived: TLS 1.3 down to 1.0 offered, 31 suites (30 and the
    /// renegotiation SCSV), an X25519 key share.
    static let openSSLClientHello: [UInt8] = hex("""
        160301013e0100013a03034dfc29ac5a3721b8e44145a817b77cec5436b12bd87470ed2ab2825371bb733420c63f\
        b4b24d0c2fb3b1c8bb557c21c3fcbec66ddcd4f6006987a6381e8ce6f47b003e130213031301c02cc030009fcca9\
        cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f\
        00ff010000b300000016001400001163632e626f746e65742e6578616d706c65000b000403000102000a00160014\
        001d0017001e0019001801000101010201030104002300000016000000170000000d002a00280403050306030807\
        08080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d\
        00020101003300260024001d0020a2595d345770bf9287a6589167bef91ad172bebf7bb40b35f68f4358af34a50c
        """)

    /// The suites of `openSSLClientHello`, in order.
    static let openSSLSuites: [UInt16] = [
        0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f, 0x009e,
        0xc024, 0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033,
        0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
    ]

    static func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8).filter { !$0.isASCIIWhitespace }
        return stride(from: 0, to: digits.count - 1, by: 2).map {
            UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)!
        }
    }

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    /// An extension: type, length, data.
    static func ext(_ type: Int, _ data: [UInt8]) -> [UInt8] { u16(type) + u16(data.count) + data }

    static func serverNameExtension(_ name: String) -> [UInt8] {
        let entry = [0] + u16(name.utf8.count) + Array(name.utf8)
        return ext(0, u16(entry.count) + entry)
    }

    static func supportedVersionsExtension(_ versions: [UInt16]) -> [UInt8] {
        let list = versions.flatMap { u16(Int($0)) }
        return ext(43, [UInt8(list.count)] + list)
    }

    /// A client hello's body; `extensions` nil leaves the block out (a TLS 1.0-style hello).
    static func clientHelloBody(version: UInt16 = 0x0303, suites: [UInt16], extensions: [[UInt8]]?) -> [UInt8] {
        var body = u16(Int(version)) + [UInt8](repeating: 0x5a, count: 32) + [0]
        body += u16(suites.count * 2) + suites.flatMap { u16(Int($0)) }
        body += [1, 0]
        if let extensions {
            let block = extensions.flatMap { $0 }
            body += u16(block.count) + block
        }
        return body
    }

    /// A handshake message of `type` with `body`, in records of at most `recordSize` bytes.
    static func records(type: UInt8 = 1, _ body: [UInt8], recordSize: Int = 16_384) -> [UInt8] {
        let message = [type, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xff), UInt8(body.count & 0xff)] + body
        var out: [UInt8] = []
        var start = 0
        while start < message.count {
            let chunk = message[start..<min(start + recordSize, message.count)]
            out += [0x16, 0x03, 0x01] + u16(chunk.count) + chunk
            start += chunk.count
        }
        return out
    }

    /// A server hello body choosing `suite`, with `supported_versions` when `version13`.
    static func serverHelloBody(suite: UInt16, version13: Bool) -> [UInt8] {
        var body = u16(0x0303) + [UInt8](repeating: 0x33, count: 32) + [0] + u16(Int(suite)) + [0]
        if version13 {
            let extensions = ext(43, u16(0x0304)) + ext(51, u16(29) + u16(32) + [UInt8](repeating: 1, count: 32))
            body += u16(extensions.count) + extensions
        }
        return body
    }
}

extension UInt8 {
    var isASCIIWhitespace: Bool { self == 0x20 || self == 0x0a || self == 0x0d || self == 0x09 }
}
