/// What a capture read: packets, bytes, what decoded, what became check-ins, and the rest by
/// reason. A value with a fixed-size table per reason, updated per packet without allocating.
public struct CaptureCounts: Sendable, Equatable {
    /// Packets read (records of a file, packets delivered by the kernel).
    public var packets = 0
    /// Bytes of those packets as captured (cut to the snaplen).
    public var bytes = 0
    /// Packets the decoder read down to the transport header.
    public var decoded = 0
    /// Check-ins offered to the ring.
    public var events = 0
    /// Check-ins the ring had no room for (live capture never waits).
    public var dropped = 0
    /// Packets on a link type the decoder does not read (the whole file or handle).
    public var skippedLinkType = 0
    private var undecodableByReason = UndecodableTable()

    public init() {}

    public subscript(reason: Undecodable) -> Int {
        get { undecodableByReason[reason] }
        set { undecodableByReason[reason] = newValue }
    }

    /// Every packet that did not decode.
    public var undecodable: Int { Undecodable.allCases.reduce(0) { $0 + self[$1] } }

    /// The reasons with a non-zero count, in declaration order.
    public var undecodableReasons: [(reason: Undecodable, count: Int)] {
        Undecodable.allCases.compactMap { self[$0] > 0 ? ($0, self[$0]) : nil }
    }

    public static func += (lhs: inout CaptureCounts, rhs: CaptureCounts) {
        lhs.packets += rhs.packets
        lhs.bytes += rhs.bytes
        lhs.decoded += rhs.decoded
        lhs.events += rhs.events
        lhs.dropped += rhs.dropped
        lhs.skippedLinkType += rhs.skippedLinkType
        for reason in Undecodable.allCases { lhs[reason] += rhs[reason] }
    }
}

/// One counter per `Undecodable` case, inline, so counting never allocates.
struct UndecodableTable: Sendable, Equatable {
    private var counts = InlineArray<16, Int>(repeating: 0)

    static func == (lhs: Self, rhs: Self) -> Bool {
        Undecodable.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }

    subscript(reason: Undecodable) -> Int {
        get { counts[Int(reason.rawValue)] }
        set { counts[Int(reason.rawValue)] = newValue }
    }
}
