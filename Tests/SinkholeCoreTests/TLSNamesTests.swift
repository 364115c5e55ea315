import Foundation
import SinkholeCore
import Testing

@Suite("TLS names: IANA cipher suite names, versions, hex for the rest")
struct TLSNamesTests {
    @Test("known suites and versions by name; anything else as 0x and four hex digits")
    func names() {
        #expect(TLSNames.cipherSuite(0x1301) == "TLS_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0xc02b) == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0x0005) == "TLS_RSA_WITH_RC4_128_SHA")
        #expect(TLSNames.cipherSuite(0x00c4) == "0x00c4" && TLSNames.cipherSuite(0xfafa) == "0xfafa")
        #expect(TLSNames.version(0x0304) == "TLSv1.3" && TLSNames.version(0x0301) == "TLSv1.0")
        #expect(TLSNames.version(0x0300) == "SSLv3" && TLSNames.version(0x7f1c) == "0x7f1c")
    }

    @Test("every suite the table names is named the same by OpenSSL's -stdname list, where OpenSSL has it")
    func matchesOpenSSL() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var checked = 0
        // Lines like "0x13,0x01 - TLS_AES_128_GCM_SHA256 - TLS_AES_128_GCM_SHA256 TLSv1.3 …".
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, fields[0].count == 9, let high = UInt16(fields[0].dropFirst(2).prefix(2), radix: 16),
                  let low = UInt16(fields[0].suffix(2), radix: 16) else { continue }
            let name = TLSNames.cipherSuite(high << 8 | low)
            guard !name.hasPrefix("0x") else { continue }
            #expect(name == String(fields[2]), "\(fields[0])")
            checked += 1
        }
        #expect(checked >= 30, "\(text.prefix(200))")
    }
}
