import SinkholeCore

/// The link layers the decoder reads, by libpcap's `DLT_`/`LINKTYPE_` number.
public enum LinkType: Sendable, Hashable {
    /// DLT_EN10MB (1): Ethernet, with 802.1Q and 802.1ad (QinQ) tags.
    case ethernet
    /// DLT_LINUX_SLL (113): Linux "cooked" capture (`tcpdump -i any`), 16-byte header.
    case linuxSLL
    /// DLT_LINUX_SLL2 (276): its successor, 20-byte header with the interface index.
    case linuxSLL2
    /// DLT_RAW (12, 14 on OpenBSD) and LINKTYPE_RAW (101): an IP packet, version from its
    /// first nibble.
    case raw
    /// LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229).
    case ipv4, ipv6
    /// DLT_NULL (0): BSD loopback, a 4-byte address family in the capturing host's byte order;
    /// DLT_LOOP (108): the same in network order. Both orders are read for either.
    case loopback

    /// The link type for libpcap's `pcap_datalink` value; nil for one the decoder does not read.
    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 12, 14, 101: self = .raw
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 0, 108: self = .loopback
        default: return nil
        }
    }
}

/// Why a frame was not decoded: a closed set, counted by reason (never logged per packet:
/// the frames are attacker-controlled).
public enum Undecodable: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Shorter than its link-layer header (or a VLAN tag).
    case truncatedLinkHeader
    /// More than `PacketDecoder.maximumVLANTags` stacked VLAN tags.
    case tooManyVLANTags
    /// Not IPv4 or IPv6: ARP, LLDP, an unknown loopback family.
    case notIP
    /// The IP version nibble is neither 4 nor 6 (or not the one the link type promised).
    case badIPVersion
    /// Shorter than the IPv4 or IPv6 header.
    case truncatedIPHeader
    /// IPv4 header length under 20 bytes, or a total length shorter than the header.
    case badIPHeaderLength
    /// An IPv6 extension header runs past the captured bytes.
    case truncatedExtensionHeader
    /// More than `PacketDecoder.maximumExtensionHeaders` IPv6 extension headers.
    case extensionChainTooLong
    /// A fragment other than the first: it carries no transport header (counted, not decoded).
    case laterFragment
    /// A transport the sinkhole does not log (GRE, ESP, SCTP, IPv6 "no next header").
    case otherTransport
    /// Shorter than the TCP, UDP or ICMP header.
    case truncatedTransportHeader
    /// TCP data offset under 5 words, or a UDP length under 8.
    case badTransportHeader

    public var description: String {
        switch self {
        case .truncatedLinkHeader: "truncated_link_header"
        case .tooManyVLANTags: "too_many_vlan_tags"
        case .notIP: "not_ip"
        case .badIPVersion: "bad_ip_version"
        case .truncatedIPHeader: "truncated_ip_header"
        case .badIPHeaderLength: "bad_ip_header_length"
        case .truncatedExtensionHeader: "truncated_extension_header"
        case .extensionChainTooLong: "extension_chain_too_long"
        case .laterFragment: "later_fragment"
        case .otherTransport: "other_transport"
        case .truncatedTransportHeader: "truncated_transport_header"
        case .badTransportHeader: "bad_transport_header"
        }
    }
}

/// TCP header flag bits (RFC 9293 §3.1).
public enum TCPFlags {
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
}

/// What the decoder read from one frame: addresses, transport header fields and where the
/// payload lies in the frame. A fixed-size value: decoding allocates nothing.
public struct DecodedPacket: Sendable, Hashable {
    public var source: IPAddress
    public var destination: IPAddress
    public var transport: CheckIn.Transport
    /// TCP/UDP ports; 0 for ICMP.
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    public var tcpFlags: UInt8 = 0
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    /// The transport payload's bytes in the frame, cut to what was captured and to what the
    /// IP and UDP lengths say (Ethernet padding excluded).
    public var payload: Range<Int> = 0..<0
    /// The first fragment of a fragmented datagram: the payload is only its start.
    public var firstFragment = false

    /// An ICMP (type 8) or ICMPv6 (type 128) echo request.
    public var isEchoRequest: Bool {
        transport == .icmp && (source.family == .v4 ? icmpType == 8 : icmpType == 128)
    }
}

/// Frame bytes and link type in, a `DecodedPacket` or the reason it is not one out (pure:
/// no state, no I/O, no allocation; every length in the frame is checked against the bytes).
public enum PacketDecoder {
    /// 802.1Q/802.1ad tags read before giving up: QinQ is two, and a frame stacking more is
    /// not one a sinkhole's uplink delivers.
    public static let maximumVLANTags = 4
    /// IPv6 extension headers walked before giving up (RFC 8200 §4.1 recommends each appear
    /// at most once, with destination options twice: 6 in all; 8 leaves room for AH).
    public static let maximumExtensionHeaders = 8

    public enum Result: Sendable, Hashable {
        case packet(DecodedPacket)
        case undecodable(Undecodable)
    }

    /// Decodes `bytes`, a frame of link type `link`.
    public static func decode(_ bytes: PacketBytes, link: LinkType) -> Result {
        switch link {
        case .ethernet: return ethernet(bytes)
        case .linuxSLL:
            // SLL: packet type, ARPHRD, address length, 8 address bytes, then the protocol.
            guard let protocolType = bytes.uint16(14) else { return .undecodable(.truncatedLinkHeader) }
            return network(bytes, at: 16, etherType: protocolType)
        case .linuxSLL2:
            // SLL2 puts the protocol first, then reserved, ifindex, ARPHRD, type, address.
            guard bytes.count >= 20, let protocolType = bytes.uint16(0) else { return .undecodable(.truncatedLinkHeader) }
            return network(bytes, at: 20, etherType: protocolType)
        case .raw: return ip(bytes, at: 0, expected: nil)
        case .ipv4: return ip(bytes, at: 0, expected: 4)
        case .ipv6: return ip(bytes, at: 0, expected: 6)
        case .loopback: return loopback(bytes)
        }
    }

    static let etherTypeIPv4: UInt16 = 0x0800
    static let etherTypeIPv6: UInt16 = 0x86dd
    /// 802.1Q, 802.1ad (QinQ outer tag) and the pre-standard 0x9100 some switches still send.
    static func isVLANTag(_ etherType: UInt16) -> Bool {
        etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100
    }

    static func ethernet(_ bytes: PacketBytes) -> Result {
        guard bytes.count >= 14, var etherType = bytes.uint16(12) else { return .undecodable(.truncatedLinkHeader) }
        var offset = 14
        var tags = 0
        while isVLANTag(etherType) {
            tags += 1
            if tags > maximumVLANTags { return .undecodable(.tooManyVLANTags) }
            // A tag: 2 bytes of priority and VLAN id, then the next EtherType.
            guard let next = bytes.uint16(offset + 2) else { return .undecodable(.truncatedLinkHeader) }
            etherType = next
            offset += 4
        }
        return network(bytes, at: offset, etherType: etherType)
    }

    static func network(_ bytes: PacketBytes, at offset: Int, etherType: UInt16) -> Result {
        switch etherType {
        case etherTypeIPv4: return ip(bytes, at: offset, expected: 4)
        case etherTypeIPv6: return ip(bytes, at: offset, expected: 6)
        default: return .undecodable(.notIP)
        }
    }

    /// BSD address families for IPv6 differ per system: 24 (NetBSD/OpenBSD), 28 (FreeBSD),
    /// 30 (Darwin), 10 (Linux). IPv4 is 2 everywhere.
    static func loopback(_ bytes: PacketBytes) -> Result {
        guard let word = bytes.uint32(0) else { return .undecodable(.truncatedLinkHeader) }
        // DLT_NULL is in the capturing host's order, which the file does not say: the value is
        // small, so whichever order gives a known family is the one.
        if let version = loopbackVersion(word) ?? loopbackVersion(word.byteSwapped) {
            return ip(bytes, at: 4, expected: version)
        }
        return .undecodable(.notIP)
    }

    static func loopbackVersion(_ family: UInt32) -> UInt8? {
        switch family {
        case 2: 4
        case 24, 28, 30, 10: 6
        default: nil
        }
    }

    static func ip(_ bytes: PacketBytes, at offset: Int, expected: UInt8?) -> Result {
        guard let first = bytes.byte(offset) else { return .undecodable(.truncatedIPHeader) }
        let version = first >> 4
        if let expected, version != expected { return .undecodable(.badIPVersion) }
        switch version {
        case 4: return ipv4(bytes, at: offset)
        case 6: return ipv6(bytes, at: offset)
        default: return .undecodable(.badIPVersion)
        }
    }

    static func ipv4(_ bytes: PacketBytes, at offset: Int) -> Result {
        guard bytes.count - offset >= 20, let first = bytes.byte(offset), let totalLength = bytes.uint16(offset + 2),
              let fragment = bytes.uint16(offset + 6), let proto = bytes.byte(offset + 9),
              let source = bytes.uint32(offset + 12), let destination = bytes.uint32(offset + 16) else {
            return .undecodable(.truncatedIPHeader)
        }
        // RFC 791: IHL counts 32-bit words, at least 5; options (IHL > 5) are skipped.
        let headerLength = Int(first & 0x0f) * 4
        guard headerLength >= 20, Int(totalLength) >= headerLength else { return .undecodable(.badIPHeaderLength) }
        guard bytes.count - offset >= headerLength else { return .undecodable(.truncatedIPHeader) }
        // Fragment offset in 8-byte units; only the first fragment (offset 0) has the
        // transport header. MF set with offset 0 is that first fragment.
        if fragment & 0x1fff != 0 { return .undecodable(.laterFragment) }
        // The end is what the IP length says, cut to what was captured (snaplen): bytes past
        // the IP length are the link layer's padding.
        let end = min(offset + Int(totalLength), bytes.count)
        var packet = DecodedPacket(source: IPAddress(ipv4: source), destination: IPAddress(ipv4: destination),
                                   transport: .udp)
        packet.firstFragment = fragment & 0x2000 != 0
        return transport(bytes, at: offset + headerLength, end: end, proto: proto, packet: packet)
    }

    static func ipv6(_ bytes: PacketBytes, at offset: Int) -> Result {
        guard bytes.count - offset >= 40, let payloadLength = bytes.uint16(offset + 4), var next = bytes.byte(offset + 6),
              let sourceHigh = bytes.uint64(offset + 8), let sourceLow = bytes.uint64(offset + 16),
              let destinationHigh = bytes.uint64(offset + 24), let destinationLow = bytes.uint64(offset + 32) else {
            return .undecodable(.truncatedIPHeader)
        }
        // Payload length 0 is a jumbogram (RFC 2675) or a lie: take what was captured.
        let end = payloadLength == 0 ? bytes.count : min(offset + 40 + Int(payloadLength), bytes.count)
        var packet = DecodedPacket(source: IPAddress(ipv6High: sourceHigh, low: sourceLow),
                                   destination: IPAddress(ipv6High: destinationHigh, low: destinationLow),
                                   transport: .udp)
        var position = offset + 40
        // RFC 8200 §4: walk the extension headers to the upper-layer header, bounded.
        for _ in 0...maximumExtensionHeaders {
            switch next {
            case 0, 43, 60:
                // Hop-by-hop, routing, destination options: length in 8-byte units, not counting
                // the first 8.
                guard let following = bytes.byte(position), let units = bytes.byte(position + 1) else {
                    return .undecodable(.truncatedExtensionHeader)
                }
                let length = (Int(units) + 1) * 8
                guard position + length <= end else { return .undecodable(.truncatedExtensionHeader) }
                next = following
                position += length
            case 44:
                // Fragment header (§4.5): 8 bytes, offset in its top 13 bits of bytes 2-3.
                guard position + 8 <= end, let following = bytes.byte(position), let field = bytes.uint16(position + 2) else {
                    return .undecodable(.truncatedExtensionHeader)
                }
                if field >> 3 != 0 { return .undecodable(.laterFragment) }
                packet.firstFragment = field & 1 != 0
                next = following
                position += 8
            case 51:
                // AH (RFC 4302 §2.2): length in 4-byte units, not counting the first 2.
                guard let following = bytes.byte(position), let units = bytes.byte(position + 1) else {
                    return .undecodable(.truncatedExtensionHeader)
                }
                let length = (Int(units) + 2) * 4
                guard position + length <= end else { return .undecodable(.truncatedExtensionHeader) }
                next = following
                position += length
            default:
                return transport(bytes, at: position, end: end, proto: next, packet: packet)
            }
        }
        return .undecodable(.extensionChainTooLong)
    }

    static func transport(_ bytes: PacketBytes, at offset: Int, end: Int, proto: UInt8, packet: DecodedPacket) -> Result {
        var packet = packet
        switch proto {
        case 6:
            guard end - offset >= 20, let sourcePort = bytes.uint16(offset), let destinationPort = bytes.uint16(offset + 2),
                  let dataOffset = bytes.byte(offset + 12), let flags = bytes.byte(offset + 13) else {
                return .undecodable(.truncatedTransportHeader)
            }
            let headerLength = Int(dataOffset >> 4) * 4
            guard headerLength >= 20 else { return .undecodable(.badTransportHeader) }
            guard end - offset >= headerLength else { return .undecodable(.truncatedTransportHeader) }
            packet.transport = .tcp
            packet.sourcePort = sourcePort
            packet.destinationPort = destinationPort
            packet.tcpFlags = flags
            packet.payload = (offset + headerLength)..<end
        case 17:
            guard end - offset >= 8, let sourcePort = bytes.uint16(offset), let destinationPort = bytes.uint16(offset + 2),
                  let length = bytes.uint16(offset + 4) else {
                return .undecodable(.truncatedTransportHeader)
            }
            // RFC 768: the length includes the 8-byte header. A first fragment's UDP length
            // covers the whole datagram, more than this fragment holds: cut to what is here.
            guard length >= 8 else { return .undecodable(.badTransportHeader) }
            packet.transport = .udp
            packet.sourcePort = sourcePort
            packet.destinationPort = destinationPort
            packet.payload = (offset + 8)..<min(offset + Int(length), end)
        case 1, 58:
            guard end - offset >= 4, let type = bytes.byte(offset), let code = bytes.byte(offset + 1) else {
                return .undecodable(.truncatedTransportHeader)
            }
            // ICMP in IPv6 or ICMPv6 in IPv4 is not a message either stack would accept.
            guard (proto == 1) == (packet.source.family == .v4) else { return .undecodable(.otherTransport) }
            packet.transport = .icmp
            packet.icmpType = type
            packet.icmpCode = code
            packet.payload = (offset + 4)..<end
        default:
            return .undecodable(.otherTransport)
        }
        return .packet(packet)
    }
}
