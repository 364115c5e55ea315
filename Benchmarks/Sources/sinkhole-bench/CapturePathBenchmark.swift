import CMallocCounter
import Foundation
import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP

/// One kind's run through the capture thread's per-packet path.
struct CapturePathRun {
    var packets: Int
    var events: Int
    var allocations: Int
    var frees: Int
    var seconds: Double
    var allocationsPerPacket: Double { Double(allocations) / Double(packets) }
    var freesPerPacket: Double { Double(frees) / Double(packets) }
    var nanosecondsPerPacket: Double { seconds * 1e9 / Double(packets) }
}

/// What makes a benchmark packet a check-in: the sinkhole addresses the frames go to, and a
/// family whose seized apex the DNS and HTTP frames name (so each one is labelled, as live).
func capturePathCheckIns() -> PacketCheckIns {
    let answers = [IPAddress(ipv4: 0xC633_6407), IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 0x07)]
    let family = SeizedFamily(name: "conficker", domains: ["evil.example"], answers: answers)
    do {
        let zones = try SeizedZones(families: [family])
        return PacketCheckIns(sinkholeAddresses: answers,
                              targets: SeizedTargets(zones: zones, addresses: [IPAddress(ipv4: 0xCB00_7109): "conficker"]))
    } catch {
        fatalError("the benchmark's seized names are valid: \(error)")
    }
}

/// The live capture thread's work per packet (`LiveCapture.capture`): `PcapHandle.next` hands
/// libpcap's buffer to `CaptureReader.read`, which decodes the frame straight into the ring's
/// next slot; then a consumer's `pop`, so the ring never fills. The handle reads a file rather than an interface: the same `pcap_next_ex` and the
/// same callback, without a kernel in the measurement. A struct, as `DNSPathLoop` is, so the
/// loop's state is not boxed by a closure.
struct CapturePathLoop {
    let handle: PcapHandle
    var reader: CaptureReader
    let ring = EventRing<CheckIn>(name: "bench-capture", minimumCapacity: 1024, filler: Fixtures.dnsQuery())
    var checksum = 0
    var overflow = CheckIn.empty

    /// Reads one packet; false at the file's end.
    @inline(__always)
    mutating func step() -> Bool {
        let next = handle.next { time, bytes, _ in
            reader.read(bytes, time: time, into: ring, overflow: &overflow)
        }
        if let event = ring.pop() { checksum &+= Int(event.destinationPort) &+ event.name.count &+ Int(event.tcpFlags) }
        return next == .packet
    }
}

/// Reads `packets` copies of `kind` (after `warmUp` more, which grow the reader's scratch
/// buffers to their working size) from a pcap written in `directory`. Allocations are counted
/// over the measured packets only.
func runCapturePath(_ kind: CaptureFrames.Kind, checkIns: PacketCheckIns, packets: Int, warmUp: Int,
                    directory: URL) throws -> CapturePathRun {
    let file = directory.appendingPathComponent("capture-path.pcap")
    try CaptureFrames.pcap(kind, count: warmUp + packets).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let handle = try PcapHandle.openOffline(path: file.path)
    var loop = CapturePathLoop(handle: handle, reader: CaptureReader(dlt: handle.linkType, checkIns: checkIns))
    for _ in 0..<warmUp { _ = loop.step() }
    let before = loop.reader.counts
    let clock = ContinuousClock()
    sinkhole_malloc_counter_start()
    let start = clock.now
    for _ in 0..<packets { _ = loop.step() }
    let elapsed = clock.now - start
    let counts = sinkhole_malloc_counter_stop()
    blackHole(loop.checksum)
    let after = loop.reader.counts
    let (s, atto) = elapsed.components
    return CapturePathRun(packets: after.packets - before.packets, events: after.events - before.events,
                          allocations: Int(counts.allocations), frees: Int(counts.frees),
                          seconds: Double(s) + Double(atto) / 1e18)
}
