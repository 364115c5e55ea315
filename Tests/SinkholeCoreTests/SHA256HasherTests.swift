import SinkholeCore
import Testing

@Suite("SHA-256")
struct SHA256HasherTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    @Test("FIPS 180-2 test vectors, and the empty input", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func vectors(input: String, digest: String) {
        #expect(Self.hex(SHA256Hasher.hash(Array(input.utf8))) == digest)
    }

    @Test("a million a's (FIPS 180-2 B.3), fed in uneven pieces")
    func millionA() {
        var hasher = SHA256Hasher()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let n = min(piece, 1_000_000 - fed)
            hasher.update(repeatElement(UInt8(ascii: "a"), count: n))
            fed += n
            piece = piece * 3 % 1000 + 1
        }
        #expect(hasher.count == 1_000_000)
        #expect(Self.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("every length around the padding boundaries hashes the same fed at once or byte by byte")
    func boundaries() {
        for length in [0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var dripped = SHA256Hasher()
            for b in bytes { dripped.update(b) }
            #expect(dripped.finalize() == SHA256Hasher.hash(bytes), "length \(length)")
        }
        // 55 and 56 bytes straddle the length field: a known value for each.
        #expect(Self.hex(SHA256Hasher.hash(repeatElement(UInt8(ascii: "a"), count: 55)))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(Self.hex(SHA256Hasher.hash(repeatElement(UInt8(ascii: "a"), count: 56)))
                == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
    }
}

@Suite("CheckIn slot")
struct CheckInSlotTests {
    @Test("the slot stays fixed-size and under 1.75 KiB with the HTTP detail; the bounds match Limits")
    func slotSize() {
        print("CheckIn stride: \(MemoryLayout<CheckIn>.stride) bytes")
        #expect(MemoryLayout<CheckIn>.stride <= 1792)
        var c = CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0, destination: .zero,
                        destinationPort: 0, transport: .tcp, service: .http)
        let long = [UInt8](repeating: 0x41, count: 1000)
        c.httpMethod = BoundedBytes(long); c.httpPath = BoundedBytes(long); c.httpUserAgent = BoundedBytes(long)
        c.httpReferer = BoundedBytes(long); c.httpForwardedFor = BoundedBytes(long); c.firstBytes = BoundedBytes(long)
        #expect([c.httpMethod.count, c.httpPath.count, c.httpUserAgent.count, c.httpReferer.count,
                 c.httpForwardedFor.count, c.firstBytes.count]
                == [CheckIn.Limits.httpMethod, CheckIn.Limits.httpPath, CheckIn.Limits.httpUserAgent,
                    CheckIn.Limits.httpReferer, CheckIn.Limits.httpForwardedFor, CheckIn.Limits.firstBytes])
        c.tlsServerName = BoundedBytes(long)
        #expect(c.tlsServerName.count == CheckIn.Limits.tlsServerName && c.tlsServerName.truncated)
    }
}
