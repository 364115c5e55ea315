import Foundation

// Test support shared by SinkholeCaptureTests and SinkholeServerTests (linked into the latter's
// Support/): frames built byte by byte and a classic pcap file writer, so every capture a test
// reads is one it made, with exactly the packets it expects.

/// A classic pcap file (not pcapng): a 24-byte global header, then per record a 16-byte header
/// (seconds, microseconds, captured length, original length) and the captured bytes. Written
/// little-endian with magic 0xa1b2c3d4, as tcpdump writes on x86.
struct PcapTestWriter {
    private(set) var bytes: [UInt8] = []

    init(linkType: UInt32, snaplen: UInt32 = 262_144) {
        append32(0xa1b2_c3d4)
        append16(2)
        append16(4)
        append32(0)  // thiszone
        append32(0)  // sigfigs
        append32(snaplen)
        append32(linkType)
    }

    /// A record at `seconds`.`microseconds`; `capturedLength` overrides the record header's
    /// length field (a bogus length), `originalLength` the wire length.
    mutating func add(_ frame: [UInt8], seconds: UInt32, microseconds: UInt32 = 0,
                      capturedLength: UInt32? = nil, originalLength: UInt32? = nil) {
        append32(seconds)
        append32(microseconds)
        append32(capturedLength ?? UInt32(frame.count))
        append32(originalLength ?? UInt32(frame.count))
        bytes += frame
    }

    /// Cuts the file's last `count` bytes (a truncated last record).
    mutating func dropLast(_ count: Int) { bytes.removeLast(count) }

    func write(to url: URL) throws { try Data(bytes).write(to: url) }

    private mutating func append16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
    private mutating func append32(_ v: UInt32) {
        bytes += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)]
    }
}

/// Frames built layer by layer (checksums left zero: nothing here checks them).
enum TestFrame {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xffff)) }

    /// 4 or 16 bytes of a textual address (tests use documentation addresses only).
    static func address(_ text: String) -> [UInt8] {
        if text.contains(":") {
            var out = [UInt8](repeating: 0, count: 16)
            _ = out.withUnsafeMutableBytes { inet_pton(AF_INET6, text, $0.baseAddress) }
            return out
        }
        var out = [UInt8](repeating: 0, count: 4)
        _ = out.withUnsafeMutableBytes { inet_pton(AF_INET, text, $0.baseAddress) }
        return out
    }

    static let syn: UInt8 = 0x02
    static let ack: UInt8 = 0x10
    static let psh: UInt8 = 0x08

    static func tcp(_ sourcePort: UInt16, _ destinationPort: UInt16, flags: UInt8, payload: [UInt8] = [],
                    dataOffsetWords: UInt8 = 5) -> [UInt8] {
        var header = be16(sourcePort) + be16(destinationPort) + be32(1000) + be32(flags & ack != 0 ? 1 : 0)
        header += [dataOffsetWords << 4, flags] + be16(65535) + be16(0) + be16(0)
        // Options (NOPs) up to the data offset, when it asks for more than 20 bytes.
        while header.count < Int(dataOffsetWords) * 4 { header.append(1) }
        return header + payload
    }

    static func udp(_ sourcePort: UInt16, _ destinationPort: UInt16, payload: [UInt8] = [], length: UInt16? = nil) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(length ?? UInt16(8 + payload.count)) + be16(0) + payload
    }

    static func icmp(type: UInt8, code: UInt8 = 0) -> [UInt8] {
        [type, code, 0, 0] + be16(0x1234) + be16(1) + Array("ping".utf8)
    }

    static func ipv4(_ source: String, _ destination: String, proto: UInt8, _ payload: [UInt8],
                     options: [UInt8] = [], fragmentOffset: UInt16 = 0, moreFragments: Bool = false,
                     totalLength: UInt16? = nil, headerWords: UInt8? = nil) -> [UInt8] {
        let words = headerWords ?? UInt8(5 + options.count / 4)
        let length = totalLength ?? UInt16(20 + options.count + payload.count)
        let fragment = fragmentOffset | (moreFragments ? 0x2000 : 0)
        var header = [0x40 | words, 0] + be16(length) + be16(0x4242) + be16(fragment) + [64, proto] + be16(0)
        header += address(source) + address(destination) + options
        return header + payload
    }

    /// IPv6 extension headers, in the order given, before the transport header.
    enum Extension {
        case hopByHop, routing, destinationOptions
        case fragment(offset: UInt16, more: Bool)

        var type: UInt8 {
            switch self {
            case .hopByHop: 0
            case .routing: 43
            case .destinationOptions: 60
            case .fragment: 44
            }
        }

        func bytes(next: UInt8) -> [UInt8] {
            switch self {
            case .hopByHop, .destinationOptions:
                // 8 bytes: next header, length 0, a PadN option covering the rest.
                return [next, 0, 1, 4, 0, 0, 0, 0]
            case .routing:
                // Type 0 with no addresses would be refused by a stack; the decoder only walks it.
                return [next, 0, 4, 0, 0, 0, 0, 0]
            case .fragment(let offset, let more):
                return [next, 0] + be16(offset << 3 | (more ? 1 : 0)) + be32(0xcafe)
            }
        }
    }

    static func ipv6(_ source: String, _ destination: String, proto: UInt8, _ payload: [UInt8],
                     extensions: [Extension] = [], payloadLength: UInt16? = nil) -> [UInt8] {
        var chain: [UInt8] = []
        for (index, ext) in extensions.enumerated() {
            let next = index + 1 < extensions.count ? extensions[index + 1].type : proto
            chain += ext.bytes(next: next)
        }
        let first = extensions.first?.type ?? proto
        let length = payloadLength ?? UInt16(chain.count + payload.count)
        return [0x60, 0, 0, 0] + be16(length) + [first, 64] + address(source) + address(destination) + chain + payload
    }

    static let mac: [UInt8] = [0x02, 0, 0, 0, 0, 1]

    /// Ethernet II; `tags` are the TPIDs of stacked VLAN tags, outermost first.
    static func ethernet(_ packet: [UInt8], etherType: UInt16, tags: [UInt16] = []) -> [UInt8] {
        var frame = mac + mac
        for (index, tpid) in tags.enumerated() { frame += be16(tpid) + be16(UInt16(100 + index)) }
        return frame + be16(etherType) + packet
    }

    static func ethernet(ip packet: [UInt8], tags: [UInt16] = []) -> [UInt8] {
        ethernet(packet, etherType: packet.first.map { $0 >> 4 == 6 } == true ? 0x86dd : 0x0800, tags: tags)
    }

    static func etherType(_ packet: [UInt8]) -> UInt16 { packet.first.map { $0 >> 4 == 6 } == true ? 0x86dd : 0x0800 }

    /// Linux cooked capture v1 (16 bytes).
    static func sll(_ packet: [UInt8]) -> [UInt8] {
        be16(0) + be16(1) + be16(6) + mac + [0, 0] + be16(etherType(packet)) + packet
    }

    /// Linux cooked capture v2 (20 bytes).
    static func sll2(_ packet: [UInt8]) -> [UInt8] {
        be16(etherType(packet)) + be16(0) + be32(2) + be16(1) + [0, 6] + mac + [0, 0] + packet
    }

    /// BSD loopback: the address family as 4 bytes, little-endian (DLT_NULL written on x86) or
    /// big-endian (DLT_LOOP).
    static func loopback(_ packet: [UInt8], family: UInt32? = nil, bigEndian: Bool = false) -> [UInt8] {
        let value = family ?? (packet.first.map { $0 >> 4 == 6 } == true ? 30 : 2)
        let header = bigEndian ? be32(value) : Array(be32(value).reversed())
        return header + packet
    }

    /// A DNS query for `name` (type `type`, class IN, RD set).
    static func dnsQuery(_ name: String, type: UInt16 = 1, id: UInt16 = 0x1234) -> [UInt8] {
        var out = be16(id) + be16(0x0100) + be16(1) + be16(0) + be16(0) + be16(0)
        for label in name.split(separator: ".") { out += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return out + [0] + be16(type) + be16(1)
    }

    static func httpRequest(host: String, path: String = "/gate.php?id=42", userAgent: String = "bot/1.0") -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: \(userAgent)\r\nAccept: */*\r\n\r\n".utf8)
    }
}

/// A pcapng file (the format Wireshark and recent tcpdump write): a section header, one
/// interface description with nanosecond timestamps (`if_tsresol` 9), then enhanced packet
/// blocks. Little-endian.
struct PcapNGTestWriter {
    private(set) var bytes: [UInt8] = []

    init(linkType: UInt16) {
        block(type: 0x0A0D_0D0A, body: le32(0x1A2B_3C4D) + le16(1) + le16(0) + Array(repeating: 0xff, count: 8))
        // if_tsresol (option 9, length 1) = 9: timestamps count nanoseconds; then opt_endofopt.
        let options = le16(9) + le16(1) + [9, 0, 0, 0] + le16(0) + le16(0)
        block(type: 1, body: le16(linkType) + le16(0) + le32(262_144) + options)
    }

    /// A packet at `nanoseconds` since the epoch.
    mutating func add(_ frame: [UInt8], nanoseconds: UInt64) {
        var body = le32(0) + le32(UInt32(nanoseconds >> 32)) + le32(UInt32(nanoseconds & 0xffff_ffff))
        body += le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame
        while body.count % 4 != 0 { body.append(0) }
        block(type: 6, body: body)
    }

    func write(to url: URL) throws { try Data(bytes).write(to: url) }

    private mutating func block(type: UInt32, body: [UInt8]) {
        let length = UInt32(12 + body.count)
        bytes += le32(type) + le32(length) + body + le32(length)
    }

    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
}
