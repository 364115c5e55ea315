import SinkholeCore
import SinkholeHTTP

/// What must hold for any bytes whatever read as the start of a TLS connection: the record
/// scan, the client and server hello readers, and the reassembly of a hello wrapped in a
/// record.
///
/// One file compiled into two programs, like `DNSFuzzInvariants`: the libFuzzer target
/// (`Fuzz/`, through a symlink, with `TLSHello.swift` as its own small SinkholeHTTP module),
/// which traps on the first violation, and this test target, where `TLSFuzzReplayTests`
/// replays the kept inputs. Only public API of `TLSHello.swift` is used.
enum TLSFuzzInvariants {
    /// Every violation found for `input`, in words; empty when all holds. Reaching the end
    /// without trapping is the main check; the rest are properties every answer must have.
    static func violations(for input: [UInt8]) -> [String] {
        var found: [String] = []
        // The bytes as the first bytes of a connection.
        if case .message(_, let body) = TLSHello.scan(input), body.count > input.count {
            found.append("scan returned a \(body.count)-byte hello from \(input.count) bytes")
        }
        // The bytes as a hello body, both ways.
        if let hello = try? TLSClientHello(parsing: input) {
            if hello.serverName.count > 255 { found.append("SNI of \(hello.serverName.count) bytes") }
            if hello.cipherSuites.count * 2 > input.count { found.append("more suites than bytes") }
            if hello.offeredCipherSuites.count > hello.cipherSuites.count { found.append("offered more than sent") }
            let detail = TLSDetail(hello: hello, family: BoundedBytes(), at: UTCTime(microseconds: 0))
            if Int(detail.offeredCipherCount) != min(hello.offeredCipherSuites.count, 255) {
                found.append("offered count \(detail.offeredCipherCount) for \(hello.offeredCipherSuites.count) suites")
            }
        }
        _ = try? TLSServerHello(parsing: input)
        // The bytes as a client hello's body in one record: read back byte for byte.
        if input.count <= TLSHello.maximumRecordLength - 4 {
            let length = input.count + 4
            let record: [UInt8] = [0x16, 0x03, 0x01, UInt8(length >> 8), UInt8(length & 0xff),
                                   0x01, 0x00, UInt8(input.count >> 8), UInt8(input.count & 0xff)] + input
            if TLSHello.scan(record) != .message(type: 1, body: input) {
                found.append("a whole record did not read back as its hello: \(TLSHello.scan(record))")
            }
        }
        return found
    }
}
