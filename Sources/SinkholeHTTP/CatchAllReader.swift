import SinkholeCore

/// What a catch-all listener keeps of whatever reached it: the first bytes, up to the
/// configured count (`catch_all.read_bytes`), and whether more arrived than were kept.
///
/// Pure: the TCP handler feeds it each read of a connection and logs once it says it has
/// enough; the UDP path feeds it one datagram. A bot on an unknown port may speak anything,
/// so nothing is parsed: the bytes are evidence of which protocol it tried.
public struct CatchAllReader: Sendable {
    /// Bytes awaited before the check-in is logged: at most `CheckIn.Limits.firstBytes`, since
    /// reading more than the check-in keeps would only delay the log.
    public let readBytes: Int
    public private(set) var firstBytes = BoundedBytes<64>()
    /// Every byte offered, kept or not.
    public private(set) var received = 0

    public init(readBytes: Int) {
        precondition((0...CheckIn.Limits.firstBytes).contains(readBytes), "read_bytes is 0 to \(CheckIn.Limits.firstBytes)")
        self.readBytes = readBytes
    }

    /// Whether `readBytes` bytes have arrived: the check-in can be logged and the connection closed.
    public var isComplete: Bool { received >= readBytes }

    /// Takes the bytes of one read (or one datagram). Keeps them up to `readBytes` in all and
    /// marks the first bytes truncated when more were offered than that. Returns `isComplete`.
    @discardableResult
    public mutating func consume(_ bytes: some Collection<UInt8>) -> Bool {
        let room = max(readBytes - firstBytes.count, 0)
        for byte in bytes.prefix(room) { firstBytes.append(byte) }
        if bytes.count > room { firstBytes.markTruncated() }
        received += bytes.count
        return isComplete
    }
}

extension CheckIn {
    /// Fills the catch-all block of a check-in whose `destination` and `destinationPort` are
    /// where it arrived (the listener's local address and port): the listener's port is kept,
    /// and the destination becomes `original`, what the bot dialled, when the kernel reported
    /// it (SO_ORIGINAL_DST after an nftables redirect, IP_ORIGDSTADDR after tproxy). It was
    /// redirected when that differs from where it arrived.
    public mutating func recordCatchAll(original: (address: IPAddress, port: UInt16)?) {
        listenerPort = destinationPort
        guard let original else { return }
        redirected = original.address != destination || original.port != destinationPort
        destination = original.address
        destinationPort = original.port
    }
}
