#!/usr/bin/env python3
"""The capture benchmark's traffic: a pcap of PACKETS Ethernet frames to the sinkhole address
198.51.100.7 (TEST-NET-2), from a bot population as a sinkhole sees one.

- 60% TCP SYNs from BOTS infected hosts in 10.0.0.0/8 (inside the benchmark's namespaces only),
  to the C&C ports bots use (80, 443, 8080, 4444); how often each bot calls is skewed (Zipf,
  s = 1.1): a few noisy hosts behind NAT, a long tail that checks in once or twice. Each SYN
  has its own source port, as a new connection attempt does.
- 40% DNS queries (UDP/53) from RESOLVERS resolvers, for DGA names under the seized apex
  evil.example, types A and AAAA.

Frames carry the MAC addresses the script gives the veth pair, so the capturing end accepts
them as its own. Deterministic (seeded). Prints the number of packets and how many are events
(every one: each SYN, each datagram is a check-in).

Usage: generate.py OUT.pcap PACKETS [BOTS] [RESOLVERS]
"""
import bisect
import random
import struct
import sys

SINKHOLE = bytes([198, 51, 100, 7])
DST_MAC = bytes.fromhex("020000000002")
SRC_MAC = bytes.fromhex("020000000001")
APEX = b"evil.example"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(source, proto, payload, ident):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0, source, SINKHOLE)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def transport_checksum(source, proto, segment, offset):
    """The segment with its TCP or UDP checksum (at `offset`) filled in: the kernel's receive
    path verifies it, as it does for a real bot's packet, and drops a bad one early."""
    pseudo = source + SINKHOLE + struct.pack("!BBH", 0, proto, len(segment))
    value = checksum(pseudo + segment) or 0xFFFF
    return segment[:offset] + struct.pack("!H", value) + segment[offset + 2:]


def qname(label):
    out = b""
    for part in label.split(b"."):
        out += bytes([len(part)]) + part
    return out + b"\0"


def main():
    out, packets = sys.argv[1], int(sys.argv[2])
    bots = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    resolvers = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    rng = random.Random(5)
    bot_addresses = [struct.pack("!I", (10 << 24) | rng.randrange(1, 1 << 24)) for _ in range(bots)]
    resolver_addresses = [struct.pack("!I", (10 << 24) | (255 << 16) | rng.randrange(1, 1 << 16)) for _ in range(resolvers)]
    # Zipf weights as a cumulative table, so a draw is one bisect.
    cumulative, total = [], 0.0
    for rank in range(1, bots + 1):
        total += 1.0 / rank ** 1.1
        cumulative.append(total)
    ports = [80, 443, 8080, 4444]
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    ethernet = DST_MAC + SRC_MAC + b"\x08\x00"
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t0 = 1_772_445_600
        for i in range(packets):
            if rng.random() < 0.6:
                source = bot_addresses[bisect.bisect_left(cumulative, rng.random() * total)]
                tcp = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), rng.choice(ports), rng.getrandbits(32), 0,
                                  0x50, 0x02, 64240, 0, 0)
                frame = ethernet + ipv4(source, 6, transport_checksum(source, 6, tcp, 16), i & 0xFFFF)
            else:
                source = rng.choice(resolver_addresses)
                name = bytes(rng.choice(alphabet) for _ in range(16)) + b"." + APEX
                dns = struct.pack("!HHHHHH", rng.getrandbits(16), 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack(
                    "!HH", rng.choice((1, 28)), 1)
                udp = struct.pack("!HHHH", rng.randrange(1024, 65536), 53, 8 + len(dns), 0) + dns
                frame = ethernet + ipv4(source, 17, transport_checksum(source, 17, udp, 6), i & 0xFFFF)
            micros = i * 2
            f.write(struct.pack("<IIII", t0 + micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)))
            f.write(frame)
    print(packets, packets)


if __name__ == "__main__":
    main()
