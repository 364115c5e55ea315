import Foundation

/// The frames the capture path benchmark reads, built byte by byte as a bot sends them
/// (Ethernet, IPv4 or IPv6, then UDP/TCP/ICMP), and a pcap file holding copies of one of them.
/// The tests' `PcapTestWriter` is not importable from here (a test target), and this is all the
/// benchmark needs of it.
enum CaptureFrames {
    /// The sinkhole address the frames go to (TEST-NET-2) and the seized name they ask for.
    static let sinkhole: [UInt8] = [198, 51, 100, 7]
    static let sinkhole6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x07]
    static let seizedName = "qx7fk2m9pl0v3ztr.evil.example"

    /// One kind of frame, its source port varied per copy so no two packets are the same.
    struct Kind: Sendable {
        var name: String
        /// The frame for copy `i`.
        var frame: @Sendable (Int) -> [UInt8]
    }

    static let kinds: [Kind] = [
        Kind(name: "DNS query, UDP/53 over IPv4") { i in ethernet(ipv4(proto: 17, udp(port(i), 53, dnsQuery(seizedName)))) },
        Kind(name: "TCP SYN over IPv4") { i in ethernet(ipv4(proto: 6, tcp(port(i), 443, flags: 0x02))) },
        Kind(name: "HTTP first segment, TCP/80") { i in
            ethernet(ipv4(proto: 6, tcp(port(i), 80, flags: 0x18, payload: Array(
                "GET /gate.php?id=42 HTTP/1.1\r\nHost: \(seizedName)\r\nUser-Agent: bot/1.0\r\nAccept: */*\r\n\r\n".utf8))))
        },
        Kind(name: "ICMP echo request over IPv4") { _ in ethernet(ipv4(proto: 1, [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0x61, count: 32))) },
        Kind(name: "TCP SYN over IPv6") { i in ethernet(ipv6(proto: 6, tcp(port(i), 443, flags: 0x02)), etherType: 0x86dd) },
        Kind(name: "DNS query, UDP/53 over IPv6, 802.1Q tag") { i in
            ethernet(ipv6(proto: 17, udp(port(i), 53, dnsQuery(seizedName, type: 28))), etherType: 0x86dd, vlan: 100)
        },
    ]

    static func port(_ i: Int) -> UInt16 { UInt16(truncatingIfNeeded: 1024 + i % 60_000) }
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    static func ethernet(_ packet: [UInt8], etherType: UInt16 = 0x0800, vlan: UInt16? = nil) -> [UInt8] {
        var frame: [UInt8] = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]
        if let vlan { frame += be16(0x8100) + be16(vlan) }
        return frame + be16(etherType) + packet
    }

    /// An IPv4 header (no options, checksum left 0: the decoder, like the kernel's capture
    /// path, does not check it) from a bot in 203.0.113.0/24.
    static func ipv4(proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0x45, 0] + be16(UInt16(20 + payload.count)) + [0, 1, 0x40, 0, 64, proto, 0, 0]
            + [203, 0, 113, 66] + sinkhole + payload
    }

    static func ipv6(proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(payload.count)) + [proto, 64]
            + [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66] + sinkhole6 + payload
    }

    static func udp(_ source: UInt16, _ destination: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(source) + be16(destination) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func tcp(_ source: UInt16, _ destination: UInt16, flags: UInt8, payload: [UInt8] = []) -> [UInt8] {
        be16(source) + be16(destination) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0] + payload
    }

    static func dnsQuery(_ name: String, type: UInt16 = 1) -> [UInt8] {
        var bytes: [UInt8] = [0x5A, 0x17, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { bytes += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return bytes + [0] + be16(type) + [0, 1]
    }

    /// A classic pcap file (microsecond timestamps, LINKTYPE_ETHERNET) with `count` copies of
    /// `kind`, one every 10 µs.
    static func pcap(_ kind: Kind, count: Int) -> Data {
        var bytes: [UInt8] = []
        func le32(_ v: UInt32) { bytes += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
        le32(0xa1b2_c3d4)
        bytes += [2, 0, 4, 0]
        le32(0); le32(0); le32(65535); le32(1)
        for i in 0..<count {
            let frame = kind.frame(i)
            let micros = UInt64(i) * 10
            le32(1_772_445_600 + UInt32(micros / 1_000_000)); le32(UInt32(micros % 1_000_000))
            le32(UInt32(frame.count)); le32(UInt32(frame.count))
            bytes += frame
        }
        return Data(bytes)
    }
}
