import NIOCore

// The DNS codec's only raw-memory code: appending a label's bytes to a name being read, and
// writing a whole reply.

extension DNSWireReader {
    /// Appends the message's bytes at `range` (offsets from the start of the message) to
    /// `storage` in one copy. Reading a label byte by byte through `ByteBuffer.getInteger`
    /// cost about a thousand instructions per query; a `ByteBufferView` slice appended
    /// through the generic collection path cost as much.
    ///
    /// Safety: `range` is checked against the message here, whatever the caller checked.
    func appendBytes(_ range: Range<Int>, to storage: inout [UInt8]) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "label outside the message")
        message.withUnsafeReadableBytes { bytes in
            storage.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
        }
    }
}

/// A write cursor over bytes reserved at the end of a `ByteBuffer`: how every DNS message the
/// sinkhole sends is encoded.
///
/// Why raw memory: writing a reply field by field through `ByteBuffer` paid a capacity check,
/// a uniqueness check and a runtime exclusivity check per write, about 2,800 instructions for
/// a one-answer reply (callgrind, `make bench-dns`); here the space is reserved once, for the
/// length the message was measured to need, and each field is a store.
///
/// Safety: the writer only lives inside `ByteBuffer.writeDNS(exactly:_:)`, which hands it the
/// reserved bytes and checks afterwards that exactly the measured length was written. Every
/// store is bounds-checked with a precondition, so a length computed wrong traps instead of
/// writing past the reservation.
struct DNSWireWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    /// Bytes written so far, from the start of the reservation.
    private(set) var count = 0

    fileprivate init(_ bytes: UnsafeMutableRawBufferPointer) {
        // A zero-length reservation can have no base address; nothing may be written to it.
        base = bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 0x10)!
        capacity = bytes.count
    }

    @inline(__always)
    private mutating func claim(_ length: Int) -> Int {
        precondition(length <= capacity - count, "DNS message longer than measured")
        defer { count += length }
        return count
    }

    mutating func put(_ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: claim(1), as: UInt8.self)
    }

    /// Network order (RFC 1035 §2.3.2), as every integer below.
    mutating func put(_ value: UInt16) {
        base.storeBytes(of: value.bigEndian, toByteOffset: claim(2), as: UInt16.self)
    }

    mutating func put(_ value: UInt32) {
        base.storeBytes(of: value.bigEndian, toByteOffset: claim(4), as: UInt32.self)
    }

    mutating func put(_ value: UInt64) {
        base.storeBytes(of: value.bigEndian, toByteOffset: claim(8), as: UInt64.self)
    }

    mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { source in
            guard let from = source.baseAddress, !source.isEmpty else { return }
            (base + claim(source.count)).copyMemory(from: from, byteCount: source.count)
        }
    }
}

extension ByteBuffer {
    /// Appends a message part of exactly `length` bytes, written by `body`. Traps when `body`
    /// writes more or fewer: the measured length is what the header's counts and the size
    /// limit were decided on, so a mismatch is a bug to stop at, not bytes to send.
    mutating func writeDNS(exactly length: Int, _ body: (inout DNSWireWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            var writer = DNSWireWriter(UnsafeMutableRawBufferPointer(rebasing: bytes[..<length]))
            body(&writer)
            precondition(writer.count == length, "DNS message shorter than measured")
            return length
        }
    }
}
