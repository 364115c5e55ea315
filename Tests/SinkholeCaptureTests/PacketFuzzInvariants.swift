import SinkholeCapture
import SinkholeCore

/// What must hold for any bytes whatever given to the packet decoder, under every link type:
/// it returns (no trap, no read past the frame: the fuzzer runs under AddressSanitizer), the
/// same verdict twice, and a decoded packet's fields agree with each other and the frame.
///
/// One file compiled into two programs, as `DNSFuzzInvariants`: the libFuzzer target
/// (`Fuzz/Sources/sinkhole-packet-fuzzer`, through a symlink), which traps on the first
/// violation, and `PacketFuzzReplayTests`, which replays the kept inputs and the seeds.
enum PacketFuzzInvariants {
    static let links: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6, .loopback]

    static func violations(for input: [UInt8]) -> [String] {
        var found: [String] = []
        input.withUnsafeBytes { raw in
            let bytes = PacketBytes(raw)
            for link in links {
                let first = PacketDecoder.decode(bytes, link: link)
                if PacketDecoder.decode(bytes, link: link) != first { found.append("\(link): two verdicts for one frame") }
                guard case .packet(let p) = first else { continue }
                if p.payload.lowerBound < 0 || p.payload.upperBound > input.count {
                    found.append("\(link): payload \(p.payload) outside the \(input.count)-byte frame")
                }
                if p.source.family != p.destination.family { found.append("\(link): source and destination of different families") }
                if p.transport == .icmp && (p.sourcePort != 0 || p.destinationPort != 0) { found.append("\(link): ICMP with ports") }
                if p.transport != .tcp && p.tcpFlags != 0 { found.append("\(link): TCP flags on \(p.transport)") }
                if p.transport != .icmp && (p.icmpType != 0 || p.icmpCode != 0) { found.append("\(link): ICMP type on \(p.transport)") }
            }
        }
        return found
    }
}

/// Seeds for the packet fuzzer: one frame of each shape the decoder reads, each link framing.
enum PacketFuzzSeeds {
    static var all: [(name: String, bytes: [UInt8])] {
        let v4 = "198.51.100.66", s4 = "198.51.100.10", v6 = "2001:db8::66", s6 = "2001:db8::10"
        let syn4 = TestFrame.ipv4(v4, s4, proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.syn))
        let syn6 = TestFrame.ipv6(v6, s6, proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.syn))
        let dns = TestFrame.ipv4(v4, s4, proto: 17, TestFrame.udp(5353, 53, payload: TestFrame.dnsQuery("cc.botnet.example")),
                                 options: [0x94, 0x04, 0, 0])
        let http = TestFrame.ipv4(v4, s4, proto: 6, TestFrame.tcp(40000, 80, flags: TestFrame.psh | TestFrame.ack,
                                                                 payload: TestFrame.httpRequest(host: "cc.botnet.example"), dataOffsetWords: 8))
        let echo = TestFrame.ipv4(v4, s4, proto: 1, TestFrame.icmp(type: 8))
        let echo6 = TestFrame.ipv6(v6, s6, proto: 58, TestFrame.icmp(type: 128))
        let chain = TestFrame.ipv6(v6, s6, proto: 17, TestFrame.udp(5353, 53, payload: [1, 2, 3]),
                                   extensions: [.hopByHop, .routing, .destinationOptions, .fragment(offset: 0, more: true)])
        let later4 = TestFrame.ipv4(v4, s4, proto: 17, Array(repeating: 0, count: 16), fragmentOffset: 100)
        let later6 = TestFrame.ipv6(v6, s6, proto: 17, Array(repeating: 0, count: 16), extensions: [.fragment(offset: 100, more: false)])
        return [
            ("raw-syn4", syn4), ("raw-syn6", syn6), ("raw-dns-options", dns), ("raw-http", http), ("raw-echo", echo),
            ("raw-echo6", echo6), ("raw-ipv6-chain", chain), ("raw-later-fragment4", later4), ("raw-later-fragment6", later6),
            ("en10mb-syn4", TestFrame.ethernet(ip: syn4)), ("en10mb-dot1q-syn6", TestFrame.ethernet(ip: syn6, tags: [0x8100])),
            ("en10mb-qinq-dns", TestFrame.ethernet(ip: dns, tags: [0x88a8, 0x8100])), ("sll-http", TestFrame.sll(http)),
            ("sll2-chain", TestFrame.sll2(chain)), ("null-echo", TestFrame.loopback(echo)),
            ("loop-syn6", TestFrame.loopback(syn6, bigEndian: true)),
        ]
    }
}
