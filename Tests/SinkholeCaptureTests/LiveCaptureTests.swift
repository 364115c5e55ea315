import Foundation
import SinkholeCapture
import SinkholeCore
import SinkholeDNS
import SinkholeHTTP
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Live capture on the loopback interface (traffic to 127.0.0.1 only). Needs CAP_NET_RAW: CI
/// runs as root; elsewhere the test is skipped, saying why.
@Suite("LiveCapture: the capture thread on loopback", .serialized)
struct LiveCaptureTests {
    /// Sends `count` UDP datagrams to 127.0.0.1:`port` (nothing listens; the kernel's ICMP
    /// answers are not datagrams to the port and are filtered out).
    static func send(_ count: Int, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        for i in 0..<count {
            var payload = [UInt8(i & 0xff), 1, 2, 3]
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, &payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    @Test("a full ring is a counted drop, never a wait: every datagram counted, the ring's slots stored, the rest dropped; pcap_stats reported",
          .enabled(if: geteuid() == 0, "needs CAP_NET_RAW (CI runs as root)"))
    func fullRingDrops() async throws {
        let port = UInt16.random(in: 40000...60000)
        let ring = EventRing<CheckIn>(name: "capture-lo", minimumCapacity: 4,
                                      filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        let checkIns = PacketCheckIns(sinkholeAddresses: [IPAddress("127.0.0.1")!], targets: SeizedTargets(zones: try SeizedZones(families: [])))
        let reports = ReportLog()
        let capture = try LiveCapture(
            settings: .init(interface: "lo", snaplen: 256, bufferBytes: 1 << 20, filter: "udp and dst port \(port)",
                            statisticsInterval: .milliseconds(100)),
            checkIns: checkIns, ring: ring, report: { reports.append($0) })
        #expect(capture.linkTypeName == "EN10MB" && capture.linkTypeSupported)
        capture.start()
        Self.send(50, port: port)
        // Bounded wait for the thread to have read all 50 (nothing drains the ring meanwhile).
        let deadline = ContinuousClock.now + .seconds(10)
        while capture.lastReport.counts.packets < 50 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        capture.stop()
        await capture.waitUntilFinished()
        let final = capture.lastReport
        #expect(final.finished && final.failure == nil)
        #expect(final.counts.packets == 50 && final.counts.events == 50 && final.counts.dropped == 46, "\(final.counts)")
        #expect(ring.counts == .init(accepted: 4, dropped: 46, consumed: 0))
        let statistics = try #require(final.statistics)
        #expect(statistics.received >= 50 && statistics.droppedByKernel == 0)
        #expect(reports.count >= 2, "a report each interval and one at the end")
        var first: [UInt16] = []
        ring.drain { first.append($0.destinationPort) }
        #expect(first == [port, port, port, port])
    }
}

extension LiveCaptureTests {
    @Test("an idle interface: reports still come each interval and a stop is seen within a read timeout",
          .enabled(if: geteuid() == 0, "needs CAP_NET_RAW (CI runs as root)"))
    func idleInterface() async throws {
        let ring = EventRing<CheckIn>(name: "capture-lo", minimumCapacity: 4,
                                      filler: CheckIn(time: UTCTime(microseconds: 0), source: .zero, sourcePort: 0,
                                                      destination: .zero, destinationPort: 0, transport: .udp, service: .packet))
        let reports = ReportLog()
        // A filter nothing on loopback matches: libpcap's blocking read would never return here.
        let capture = try LiveCapture(
            settings: .init(interface: "lo", snaplen: 256, bufferBytes: 1 << 20, filter: "udp and dst port 9 and dst host 127.0.0.254",
                            statisticsInterval: .milliseconds(100)),
            checkIns: PacketCheckIns(sinkholeAddresses: [], targets: SeizedTargets(zones: try SeizedZones(families: []))),
            ring: ring, report: { reports.append($0) })
        capture.start()
        let deadline = ContinuousClock.now + .seconds(10)
        while reports.count < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(reports.count >= 3)
        let stopping = ContinuousClock.now
        capture.stop()
        await capture.waitUntilFinished()
        // A blocking read on an idle interface never returned at all; the thread polls every
        // 100 ms. The bound is loose because a loaded 2-core machine (tests run in parallel
        // under `swift test`) can delay the waiting task itself by seconds.
        #expect(ContinuousClock.now - stopping < .seconds(20))
        #expect(capture.lastReport.finished && capture.lastReport.counts.packets == 0)
    }
}

final class ReportLog: Sendable {
    private let reports = Mutex<[LiveCapture.Report]>([])
    func append(_ report: LiveCapture.Report) { reports.withLock { $0.append(report) } }
    var count: Int { reports.withLock { $0.count } }
}

import Synchronization
