/// Up to `capacity` bytes stored inline, with a flag saying whether more were offered.
///
/// Detail fields of a `CheckIn` (a qname, a Host header, a SNI) come from the network and can
/// be any length; a slot must stay fixed-size, so each field keeps its first `capacity` bytes
/// and records that it was cut. Bytes are kept as received (no decoding, no escaping): the
/// store and the exports decide how to render them safely.
public struct BoundedBytes<let capacity: Int>: BitwiseCopyable, Sendable {
    @usableFromInline var storage: InlineArray<capacity, UInt8>
    @usableFromInline var length: UInt16
    @usableFromInline var _truncated: Bool
    /// True when more bytes were offered than `capacity` holds.
    @inlinable public var truncated: Bool { _truncated }

    @inlinable
    public init() {
        storage = InlineArray(repeating: 0)
        length = 0
        _truncated = false
    }

    /// Keeps the first `capacity` bytes of `bytes`, marking the value truncated if any were cut.
    @inlinable
    public init(_ bytes: some Sequence<UInt8>) {
        self.init()
        for b in bytes { append(b) }
    }

    /// Keeps the first `capacity` bytes of the UTF-8 of `text`.
    @inlinable
    public init(_ text: String) {
        self.init(text.utf8)
    }

    @inlinable public var count: Int { Int(length) }
    @inlinable public var isEmpty: Bool { length == 0 }

    /// Appends one byte, or marks the value truncated when full.
    @inlinable
    public mutating func append(_ byte: UInt8) {
        if Int(length) < capacity {
            storage[Int(length)] = byte
            length += 1
        } else {
            _truncated = true
        }
    }

    /// Marks the value truncated, for producers that stopped copying early themselves.
    @inlinable public mutating func markTruncated() { _truncated = true }

    @inlinable public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < Int(length), "BoundedBytes index out of range")
        return storage[index]
    }

    /// The stored bytes, copied out (allocates: for the writer and tests, not for producers).
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Int(length))
        for i in 0..<Int(length) { out.append(storage[i]) }
        return out
    }

    /// The stored bytes as text; invalid UTF-8 is replaced with U+FFFD.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Calls `body` with the stored bytes without copying them out.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: storage) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<Int(length)]))
        }
    }
}

// Inlinable, like everything on the hot path here: a value generic called across modules
// unspecialized looks its metadata up at run time on every call, which profiled as the DNS
// path's largest single cost.
extension BoundedBytes: Equatable {
    @inlinable
    public static func == (lhs: Self, rhs: Self) -> Bool {
        guard lhs.length == rhs.length, lhs.truncated == rhs.truncated else { return false }
        return lhs.withBytes { l in rhs.withBytes { r in l.elementsEqual(r) } }
    }
}

extension BoundedBytes: Hashable {
    @inlinable
    public func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
        hasher.combine(truncated)
    }
}

extension BoundedBytes: CustomStringConvertible {
    public var description: String { truncated ? text + "…" : text }
}

/// Byte for byte: printable ASCII as itself, every other byte (and `"` and `\`) as `\xHH`, so
/// two values that print alike hold the same bytes (`description` replaces invalid UTF-8). A
/// `CheckIn` printed whole shows its fields this way.
extension BoundedBytes: CustomDebugStringConvertible {
    public var debugDescription: String {
        var out = "\""
        withBytes { bytes in
            for byte in bytes {
                if byte >= 0x20, byte < 0x7f, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    let hex = String(byte, radix: 16)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                }
            }
        }
        return out + (truncated ? "\"…" : "\"")
    }
}
