import NIOCore

/// A bounds-checked read cursor over one DNS message, after Knot DNS's `wire_ctx`.
///
/// Offsets are relative to the first byte of the message (compression pointers count from
/// there, RFC 1035 §4.1.4). Every read checks the bounds first and throws
/// `DNSParseError.truncated` on overrun; nothing here can trap on any input, because the
/// bytes are read through `ByteBuffer.getInteger(at:)`, which returns nil outside the buffer.
public struct DNSWireReader {
    @usableFromInline let message: ByteBuffer
    @usableFromInline let base: Int

    /// Offset of the next byte to read, from the start of the message.
    public private(set) var offset: Int

    /// The message is `message`'s readable bytes; reading starts at offset 0.
    public init(message: ByteBuffer) {
        self.message = message
        base = message.readerIndex
        offset = 0
    }

    /// The length of the whole message.
    public var count: Int { message.readableBytes }

    /// Bytes left after `offset`.
    public var remaining: Int { count - offset }

    /// The byte at `position` (from the start of the message) without moving the cursor, or
    /// nil when it is outside the message.
    @inlinable
    public func byte(at position: Int) -> UInt8? {
        guard position >= 0, position < message.readableBytes else { return nil }
        return message.getInteger(at: base + position, as: UInt8.self)
    }

    /// Reads one byte.
    public mutating func readUInt8() throws(DNSParseError) -> UInt8 {
        guard let value = byte(at: offset) else { throw .truncated }
        offset += 1
        return value
    }

    /// Reads a 16-bit big-endian integer (RFC 1035 §2.3.2: network order).
    public mutating func readUInt16() throws(DNSParseError) -> UInt16 {
        guard remaining >= 2,
              let value = message.getInteger(at: base + offset, endianness: .big, as: UInt16.self)
        else { throw .truncated }
        offset += 2
        return value
    }

    /// Reads a 32-bit big-endian integer.
    public mutating func readUInt32() throws(DNSParseError) -> UInt32 {
        guard remaining >= 4,
              let value = message.getInteger(at: base + offset, endianness: .big, as: UInt32.self)
        else { throw .truncated }
        offset += 4
        return value
    }

    /// Skips `length` bytes (an RDATA the caller does not decode).
    public mutating func skip(_ length: Int) throws(DNSParseError) {
        guard length >= 0, length <= remaining else { throw .truncated }
        offset += length
    }

    /// Moves the cursor to `position`, which must lie inside the message or at its end.
    public mutating func seek(to position: Int) throws(DNSParseError) {
        guard position >= 0, position <= count else { throw .truncated }
        offset = position
    }
}

extension DNSWireReader {
    /// The most compression pointers followed for one name. Each pointer must point before
    /// the segment that led to it, so decoding ends anyway; the cap bounds the work an
    /// attacker can ask for per name (Knot and NSD cap likewise).
    public static let maximumPointerHops = 16

    /// Reads a domain name at the cursor, following compression pointers (RFC 1035 §4.1.4),
    /// and leaves the cursor after the name's bytes at this position (after the first pointer,
    /// if any). Letter case is kept as received.
    ///
    /// Rejects: labels of the reserved types 0b01/0b10, names over 255 octets uncompressed,
    /// names without a root label, pointers outside the message, pointers forward, pointers
    /// into the segment that led to them (loops), and more than `maximumPointerHops` pointers.
    public mutating func readName(maximumPointerHops: Int = DNSWireReader.maximumPointerHops)
        throws(DNSParseError) -> DNSName
    {
        var storage: [UInt8] = []
        return try readName(reusing: &storage, maximumPointerHops: maximumPointerHops)
    }

    /// `readName`, building the name in `storage`'s buffer (its bytes are replaced) and
    /// returning a name that shares it.
    ///
    /// For the UDP path, which reads one question name per datagram: once the name built by
    /// the previous call has been released, `storage` is again the buffer's only owner, so
    /// clearing it keeps its capacity and reading allocates nothing. While that name is still
    /// held, copy-on-write gives `storage` a buffer of its own and the name is untouched:
    /// reuse is an optimisation only, never a change of any name's bytes.
    mutating func readName(reusing storage: inout [UInt8],
                           maximumPointerHops: Int = DNSWireReader.maximumPointerHops) throws(DNSParseError) -> DNSName {
        storage.removeAll(keepingCapacity: true)
        // Most names fit without growing (a no-op once `storage` has been used).
        storage.reserveCapacity(32)
        var position = offset
        // Start of the run of labels being read: a pointer must land strictly before it, so
        // the positions read keep decreasing and no loop is possible.
        var segmentStart = offset
        var resumeAt: Int? = nil
        var hops = 0
        while true {
            guard let length = byte(at: position) else {
                throw position == count && position > segmentStart ? .missingRootLabel : .truncated
            }
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    storage.append(0)
                    guard storage.count <= DNSName.maximumWireLength else { throw .nameTooLong }
                    try seek(to: resumeAt ?? position + 1)
                    return DNSName(uncheckedWire: storage)
                }
                let labelEnd = position + 1 + Int(length)
                guard labelEnd <= count else { throw .truncated }
                // +1 for the root label still to come.
                guard storage.count + 1 + Int(length) + 1 <= DNSName.maximumWireLength else {
                    throw .nameTooLong
                }
                storage.append(length)
                appendBytes((position + 1)..<labelEnd, to: &storage)
                position = labelEnd
            case 0xC0:
                guard let low = byte(at: position + 1) else { throw .truncated }
                let target = Int(length & 0x3F) << 8 | Int(low)
                guard target < count else { throw .pointerOutOfRange }
                guard target < position else { throw target == position ? .pointerLoop : .forwardPointer }
                guard target < segmentStart else { throw .pointerLoop }
                hops += 1
                guard hops <= maximumPointerHops else { throw .tooManyPointers }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                segmentStart = target
            default:
                throw .reservedLabelType
            }
        }
    }
}

/// Why a DNS message could not be read: a closed set, so each reason can be counted in metrics.
///
/// Every case is attacker-driven (a bot, a scanner or a spoofed packet chose the bytes), so
/// none is logged per packet and none is thrown across a channel handler.
public enum DNSParseError: String, Error, CaseIterable, Hashable, Sendable {
    /// Fewer than the 12 bytes of a header (RFC 1035 §4.1.1): nothing to echo, no reply.
    case truncatedHeader
    /// QR is set: the packet is a response. Never answer one, or two servers could be made to
    /// answer each other for ever.
    case responseBit
    /// QDCOUNT is 0. RFC 9619 §3: a query with OPCODE QUERY carries exactly one question.
    case noQuestion
    /// QDCOUNT is above 1 (RFC 9619 §3: answer FORMERR).
    case multipleQuestions
    /// A read ran past the end of the message.
    case truncated
    /// The name's labels ran to the end of the message without the zero-length root label.
    case missingRootLabel
    /// A label type of 0b01 or 0b10 in the top two bits (RFC 6891 §5 retired the extended
    /// label types). A length byte above 63 always lands here: on the wire a label cannot be
    /// longer than 63 octets, because 64 and up are these reserved types.
    case reservedLabelType
    /// The uncompressed name is longer than 255 octets (RFC 1035 §3.1).
    case nameTooLong
    /// A compression pointer names an offset outside the message.
    case pointerOutOfRange
    /// A compression pointer names an offset after itself (RFC 1035 §4.1.4 allows only "a
    /// prior occurrence of the same name").
    case forwardPointer
    /// A compression pointer names an offset inside the name segment that led to it, which
    /// would make the decoder read the same labels again, for ever.
    case pointerLoop
    /// More compression pointers than the decoder follows for one name.
    case tooManyPointers
    /// Two OPT records in one message (RFC 6891 §6.1.1: FORMERR).
    case multipleOPT
    /// An OPT record in the answer or authority section (RFC 6891 §6.1.1: it belongs in the
    /// additional section only).
    case optOutsideAdditional
    /// An OPT record whose owner is not the root name (RFC 6891 §6.1.2).
    case optOwnerNotRoot
    /// An EDNS option whose length runs past the OPT record's RDATA (RFC 6891 §6.1.2).
    case malformedOption

    /// The label for metrics (`dns_parse_errors_total{reason="pointer_loop"}` style).
    public var name: String { rawValue }
}
