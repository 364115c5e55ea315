import NIOCore
import SinkholeDNS
import Testing

@Suite("Reading names and the wire cursor")
struct DNSNameTests {
    /// A header, a root label at 12, then `pointers` pointers each naming the one before it;
    /// returns the message and the offset of the last pointer.
    static func pointerChain(_ pointers: Int) -> ([UInt8], Int) {
        var bytes = WireQuery.header() + [0]
        var previous = 12
        for _ in 0..<pointers {
            let here = bytes.count
            bytes += [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF)]
            previous = here
        }
        return (bytes, previous)
    }

    static func readName(in bytes: [UInt8], at offset: Int) throws(DNSParseError) -> DNSName {
        var reader = DNSWireReader(message: buffer(bytes))
        try reader.seek(to: offset)
        return try reader.readName()
    }

    /// A name of labels of "a" with the given lengths, root label included.
    static func wire(labelLengths: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for length in labelLengths {
            bytes.append(UInt8(length))
            bytes += [UInt8](repeating: 0x61, count: length)
        }
        return bytes + [0]
    }

    @Test("a chain of 16 pointers is followed")
    func sixteenHops() throws {
        let (bytes, start) = Self.pointerChain(16)
        #expect(try Self.readName(in: bytes, at: start).isRoot)
    }

    @Test("a chain of 17 pointers is refused")
    func seventeenHops() {
        let (bytes, start) = Self.pointerChain(17)
        #expect(throws: DNSParseError.tooManyPointers) { try Self.readName(in: bytes, at: start) }
    }

    @Test("a loop through two pointers is refused")
    func twoPointerLoop() {
        // At 12: label "a" then a pointer to 17; at 17: a pointer back to 12. The second
        // pointer lands inside the segment that led to it.
        let bytes = WireQuery.header() + [1, 0x61, 0xC0, 17, 0xFF] + [0xC0, 12]
        #expect(throws: DNSParseError.self) { try Self.readName(in: bytes, at: 12) }
        // Read from 17, the first pointer goes back to 12 and the next one (at 14) forward.
        #expect(throws: DNSParseError.forwardPointer) { try Self.readName(in: bytes, at: 17) }
    }

    @Test("a name split over a pointer is joined, and the cursor ends after the pointer")
    func splitName() throws {
        let bytes = WireQuery.header() + WireQuery.name("evil.example") + [3] + Array("WWW".utf8) + [0xC0, 12] + [0xAA]
        var reader = DNSWireReader(message: buffer(bytes))
        try reader.seek(to: 26)
        let name = try reader.readName()
        #expect(name.presentation == "WWW.evil.example")
        #expect(reader.offset == 32)
        #expect(try reader.readUInt8() == 0xAA)
        #expect(throws: DNSParseError.truncated) { try reader.readUInt8() }
    }

    @Test("reads past the end throw and leave the cursor where it was")
    func overrun() throws {
        var reader = DNSWireReader(message: buffer([1, 2, 3]))
        #expect(try reader.readUInt16() == 0x0102)
        #expect(throws: DNSParseError.truncated) { try reader.readUInt16() }
        #expect(throws: DNSParseError.truncated) { try reader.readUInt32() }
        #expect(throws: DNSParseError.truncated) { try reader.skip(2) }
        #expect(throws: DNSParseError.truncated) { try reader.skip(-1) }
        #expect(throws: DNSParseError.truncated) { try reader.seek(to: 4) }
        #expect(reader.offset == 2)
        #expect(reader.byte(at: -1) == nil)
        #expect(reader.byte(at: 3) == nil)
    }

    @Test("presentation form escapes dots, backslashes, spaces and non-ASCII bytes as \\DDD")
    func presentationEscapes() throws {
        let name = try #require(DNSName(labels: [
            Array("a.b".utf8), [0x5C, 0x20, 0x00, 0xFF, 0x7E], Array("Ex".utf8),
        ]))
        #expect(name.presentation == "a\\046b.\\092\\032\\000\\255~.Ex")
    }

    @Test("labels that can't be a name are refused by DNSName(labels:)")
    func invalidLabels() {
        #expect(DNSName(labels: [[UInt8]()]) == nil)
        #expect(DNSName(labels: [[UInt8](repeating: 0x61, count: 64)]) == nil)
        #expect(DNSName(labels: Array(repeating: [UInt8](repeating: 0x61, count: 63), count: 4)) == nil)
        #expect(DNSName(labels: Array(repeating: [UInt8](repeating: 0x61, count: 62), count: 4)) != nil)
        #expect(DNSName(labels: [[UInt8]]()) == DNSName.root)
    }

    @Test("a name of exactly 255 octets is read; one more octet is refused")
    func maximumLength() throws {
        // 3 × 64 + 62 + 1 = 255.
        let wire = Self.wire(labelLengths: [63, 63, 63, 61])
        #expect(wire.count == 255)
        #expect(try Self.readName(in: WireQuery.header() + wire, at: 12).wire == wire)
        let longer = Self.wire(labelLengths: [63, 63, 63, 62])
        #expect(throws: DNSParseError.nameTooLong) { try Self.readName(in: WireQuery.header() + longer, at: 12) }
    }
}
