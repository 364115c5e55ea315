/// A captured frame's bytes, read only through checked accessors: every read past the end
/// returns nil, so the decoder never reads out of bounds whatever a frame claims.
///
/// The one place the decoder touches a pointer. The bytes are borrowed (libpcap's buffer, a
/// test's array) for the duration of one `PacketDecoder.decode` call and never kept.
public struct PacketBytes {
    @usableFromInline let base: UnsafeRawBufferPointer

    /// Wraps `bytes`, which must stay valid while this value is used.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) { base = bytes }

    public var count: Int { base.count }

    @inlinable
    public func byte(_ offset: Int) -> UInt8? {
        guard offset >= 0, offset < base.count else { return nil }
        return base[offset]
    }

    /// Big-endian (network order) 16 bits at `offset`.
    @inlinable
    public func uint16(_ offset: Int) -> UInt16? {
        guard offset >= 0, offset <= base.count - 2 else { return nil }
        return UInt16(base[offset]) << 8 | UInt16(base[offset + 1])
    }

    /// Big-endian 32 bits at `offset`.
    @inlinable
    public func uint32(_ offset: Int) -> UInt32? {
        guard let high = uint16(offset), let low = uint16(offset + 2) else { return nil }
        return UInt32(high) << 16 | UInt32(low)
    }

    /// Big-endian 64 bits at `offset`.
    @inlinable
    public func uint64(_ offset: Int) -> UInt64? {
        guard let high = uint32(offset), let low = uint32(offset + 4) else { return nil }
        return UInt64(high) << 32 | UInt64(low)
    }

    /// `body` with the bytes in `range`, clamped to the frame.
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let lower = min(max(range.lowerBound, 0), base.count)
        let upper = min(max(range.upperBound, lower), base.count)
        return try body(UnsafeRawBufferPointer(rebasing: base[lower..<upper]))
    }
}
