/// A domain name in uncompressed wire form, letter case kept exactly as received.
///
/// The sinkhole keeps the case a bot used: some malware randomises it (0x20 bit encoding, or
/// its own quirk), which is evidence. Comparison for matching seized names is done
/// case-insensitively by `SeizedZones`, never by changing the name itself.
public struct DNSName: Hashable, Sendable {
    /// RFC 1035 §3.1: a name is at most 255 octets in wire form, length bytes and root included.
    public static let maximumWireLength = 255
    /// RFC 1035 §2.3.4: a label is at most 63 octets.
    public static let maximumLabelLength = 63

    /// The root name, `.`.
    public static let root = DNSName(uncheckedWire: [0])

    /// Length-prefixed labels ending with the zero-length root label.
    public let wire: [UInt8]

    /// Wraps bytes already known to be a valid uncompressed wire name.
    init(uncheckedWire wire: [UInt8]) {
        self.wire = wire
    }

    /// Builds a name from its labels; nil when a label is empty or longer than 63 octets, or
    /// the name would exceed 255 octets.
    public init?(labels: some Sequence<some Collection<UInt8>>) {
        var wire: [UInt8] = []
        for label in labels {
            guard !label.isEmpty, label.count <= Self.maximumLabelLength else { return nil }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        wire.append(0)
        guard wire.count <= Self.maximumWireLength else { return nil }
        self.wire = wire
    }

    /// Builds a name from dotted bytes as a protocol carries them (an HTTP Host without its
    /// port, a TLS SNI), letter case kept, no trailing dot, no escapes; nil on the same limits
    /// as `init(labels:)`. One pass and one array, not generic: `init(labels:)` over `split`
    /// cost an HTTP request ~26,000 instructions in generic metadata lookups and slices.
    public init?(dotted bytes: UnsafeRawBufferPointer) {
        var storage: [UInt8] = []
        self.init(dotted: bytes, reusing: &storage)
    }

    /// `init(dotted:)`, built in `storage`'s buffer (its bytes are replaced) and sharing it:
    /// for a caller naming one host per packet, as `DNSWireReader.readName(reusing:)` is for
    /// one question per datagram. Once the previous name is released, `storage` is again its
    /// buffer's only owner and building allocates nothing.
    public init?(dotted bytes: UnsafeRawBufferPointer, reusing storage: inout [UInt8]) {
        guard !bytes.isEmpty, bytes.count + 2 <= Self.maximumWireLength else { return nil }
        storage.removeAll(keepingCapacity: true)
        storage.append(contentsOf: repeatElement(0, count: bytes.count + 2))
        var lengthAt = 0
        var length = 0
        for (i, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: ".") {
                guard length > 0 else { return nil }
                storage[lengthAt] = UInt8(length)
                lengthAt = i + 1
                length = 0
            } else {
                length += 1
                guard length <= Self.maximumLabelLength else { return nil }
                storage[i + 1] = byte
            }
        }
        guard length > 0 else { return nil }
        storage[lengthAt] = UInt8(length)
        self.wire = storage  // the last byte stays 0: the root label; shares storage's buffer
    }

    /// Builds a name from dotted text (`ns1.Sinkhole.example`, trailing dot optional), letter
    /// case kept, no escapes interpreted; `.` is the root. Nil for empty text, an empty label,
    /// or a name over the limits of `init(labels:)`. For names the operator configures.
    public init?(presentation text: some StringProtocol) {
        if text == "." {
            self = .root
            return
        }
        var utf8 = Substring(text).utf8[...]
        if utf8.last == UInt8(ascii: ".") { utf8 = utf8.dropLast() }
        guard !utf8.isEmpty else { return nil }
        self.init(labels: utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false))
    }

    /// The labels, leftmost first, without the root label (empty for the root).
    public var labels: [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while i < wire.count, wire[i] != 0 {
            let length = Int(wire[i])
            out.append(wire[(i + 1)..<(i + 1 + length)])
            i += 1 + length
        }
        return out
    }

    public var isRoot: Bool { wire.count == 1 }

    /// Calls `body` with each byte of the name's presentation form: dotted, letter case kept,
    /// no trailing dot, `.` for the root. Bytes outside printable ASCII (0x21–0x7E), and `.`
    /// and `\` inside a label, are written `\DDD` (RFC 4343 §2.1, RFC 1035 §5.1), so a label
    /// containing a dot can't pass for two labels and a control byte can't reach a log or CSV.
    public func forEachPresentationByte(_ body: (UInt8) -> Void) {
        if isRoot {
            body(UInt8(ascii: "."))
            return
        }
        var i = 0
        while i < wire.count, wire[i] != 0 {
            if i > 0 { body(UInt8(ascii: ".")) }
            let length = Int(wire[i])
            for byte in wire[(i + 1)..<(i + 1 + length)] {
                if byte >= 0x21, byte <= 0x7E, byte != UInt8(ascii: "."), byte != UInt8(ascii: "\\") {
                    body(byte)
                } else {
                    body(UInt8(ascii: "\\"))
                    body(UInt8(ascii: "0") + byte / 100)
                    body(UInt8(ascii: "0") + (byte / 10) % 10)
                    body(UInt8(ascii: "0") + byte % 10)
                }
            }
            i += 1 + length
        }
    }

    /// The presentation form (see `forEachPresentationByte`).
    public var presentation: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(wire.count)
        forEachPresentationByte { bytes.append($0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension DNSName: CustomStringConvertible {
    public var description: String { presentation }
}
