import SinkholeCore

/// One capture's packets in, check-ins out, everything counted (pure: no I/O; the engine and
/// the tests feed it frames).
public struct CaptureReader: Sendable {
    /// The link type being read, nil when the decoder does not read it (every packet is then
    /// counted as `skippedLinkType`).
    public let link: LinkType?
    public let checkIns: PacketCheckIns
    public private(set) var counts = CaptureCounts()
    private var scratch = PacketCheckIns.Scratch()

    public init(dlt: Int32, checkIns: PacketCheckIns) {
        link = LinkType(dlt: dlt)
        self.checkIns = checkIns
    }

    /// Counts one frame and returns the check-in it is, if any.
    public mutating func read(_ bytes: PacketBytes, time: UTCTime) -> CheckIn? {
        var checkIn = CheckIn.empty
        return read(bytes, time: time, into: &checkIn) ? checkIn : nil
    }

    /// Counts one frame and makes `checkIn` the check-in it is; false when it is none. Every
    /// field is set, so `checkIn` may be a ring slot (`EventRing.push(building:overflow:)`).
    public mutating func read(_ bytes: PacketBytes, time: UTCTime, into checkIn: inout CheckIn) -> Bool {
        counts.packets += 1
        counts.bytes += bytes.count
        guard let link else {
            counts.skippedLinkType += 1
            return false
        }
        switch PacketDecoder.decode(bytes, link: link) {
        case .undecodable(let reason):
            counts[reason] += 1
            return false
        case .packet(let packet):
            counts.decoded += 1
            guard checkIns.fill(&checkIn, from: packet, bytes: bytes, time: time, scratch: &scratch) else { return false }
            counts.events += 1
            return true
        }
    }

    /// The live capture's step: reads one frame straight into `ring`'s next free slot, with no
    /// copy of the 1.7 KiB event on the way. An event the ring has no room for is built in
    /// `overflow` (the caller's, kept across calls) and counted as dropped.
    public mutating func read(_ bytes: PacketBytes, time: UTCTime, into ring: EventRing<CheckIn>, overflow: inout CheckIn) {
        if ring.push(building: { read(bytes, time: time, into: &$0) }, overflow: &overflow) == false {
            countDrop()
        }
    }

    /// A check-in the ring had no room for.
    public mutating func countDrop() { counts.dropped += 1 }
}

/// The default BPF filter for live capture: packets to the sinkhole and seized addresses, with
/// or without a VLAN tag. Nothing else reaches the capture thread, so a busy uplink costs the
/// kernel's filter, not the sinkhole.
public enum CaptureFilter {
    public static func `default`(addresses: some Sequence<IPAddress>) -> String? {
        let hosts = addresses.sorted().map { "dst host \($0)" }
        guard !hosts.isEmpty else { return nil }
        // VLAN-tagged frames need `vlan` to shift the filter's offsets; both forms are tried.
        let plain = hosts.joined(separator: " or ")
        return "(\(plain)) or (vlan and (\(plain)))"
    }
}
