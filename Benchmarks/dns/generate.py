#!/usr/bin/env python3
"""Writes the DNS benchmark's inputs into a work directory, from a fixed seed.

    generate.py WORK NAMES QUERIES

- names.txt: NAMES distinct DGA-shaped seized names (8-16 random letters under .example or
  .test), the sinkhole's domain list;
- zones/NAME.zone: one zone per seized name for NSD and Knot (SOA, NS, A 198.51.100.10 and a
  wildcard A, so every name below the apex answers as it does from the sinkhole);
- nsd.zones, knot.zones: the zone stanzas appended to nsd.conf.in and knot.conf.in;
- queries.txt: QUERIES dnsperf lines under those names. Same seed, same files, every run.
"""
import os
import random
import sys

work, count, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261130)
letters = "abcdefghijklmnopqrstuvwxyz"


def label(low, high):
    return "".join(rng.choice(letters) for _ in range(rng.randint(low, high)))


names, seen = [], set()
for _ in range(count * 10):  # bounded: collisions of 8+ random letters are rare
    if len(names) == count:
        break
    name = label(8, 16) + "." + rng.choice(["example", "test"])
    if name not in seen:
        seen.add(name)
        names.append(name)
if len(names) != count:
    sys.exit(f"generate.py: only {len(names)} distinct names of {count}")

with open(os.path.join(work, "names.txt"), "w") as f:
    f.write("".join(n + "\n" for n in names))

# What the sinkhole answers for a seized name, written as a zone: the same SOA contact and
# TTLs, so all three servers send answers of about the same size.
zone = """$ORIGIN {name}.
$TTL 300
@ IN SOA ns1.sinkhole.test. hostmaster.ns1.sinkhole.test. 1 3600 900 604800 300
@ IN NS ns1.sinkhole.test.
@ IN A 198.51.100.10
* IN A 198.51.100.10
"""
os.makedirs(os.path.join(work, "zones"), exist_ok=True)
with open(os.path.join(work, "nsd.zones"), "w") as nsd, open(os.path.join(work, "knot.zones"), "w") as knot:
    for name in names:
        with open(os.path.join(work, "zones", name + ".zone"), "w") as f:
            f.write(zone.format(name=name))
        nsd.write(f"zone:\n    name: {name}\n    zonefile: zones/{name}.zone\n")
        knot.write(f"  - domain: {name}.\n")

# The mix bots send to seized names: the apex most often, a few fixed host names, and random
# labels below the apex (every one a wildcard answer for NSD and Knot); mostly A, some AAAA
# (NODATA from all three: no IPv6 sinkhole address is configured).
hosts = ["www", "mail", "cc", "update", "api"]
with open(os.path.join(work, "queries.txt"), "w") as f:
    for _ in range(queries):
        name = rng.choice(names)
        r = rng.random()
        if r < 0.4:
            qname = name
        elif r < 0.7:
            qname = rng.choice(hosts) + "." + name
        else:
            qname = label(6, 12) + "." + name
        f.write(f"{qname} {'AAAA' if rng.random() < 0.15 else 'A'}\n")
