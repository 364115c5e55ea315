#!/usr/bin/env bash
# Loading seized names at Conficker scale: how long `sinkhole check-config` takes to read,
# validate and index N names (default 1,000,000) from a list file, and how much resident
# memory they add, against the same command with a 1-name list in the same run (the anchor
# that cancels start-up time and the process's own memory).
#
# Usage: Benchmarks/zones/run.sh [N]     (builds the release binary first)
#        BASELINE=/path/to/older/sinkhole Benchmarks/zones/run.sh [N]
#        also measures that binary (e.g. a copy of .build/release/sinkhole from before a change)
#        on the same list in the same run, for a before/after taken under the same load.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-1000000}
. Benchmarks/lib/setup.sh
# /usr/bin/time (Debian package "time") reads the peak memory.
install_missing "time"
build_release_sinkhole
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Names shaped like a DGA's: 8 to 20 random lowercase letters under a handful of TLDs.
python3 - "$count" "$work/big.txt" <<'PY'
import random, sys
count, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261129)
tlds = ["com", "net", "org", "info", "biz", "ws", "cn"]
letters = "abcdefghijklmnopqrstuvwxyz"
with open(path, "w") as f:
    for _ in range(count):
        f.write("".join(rng.choice(letters) for _ in range(rng.randint(8, 20))) + "." + rng.choice(tlds) + "\n")
PY
echo "anchor.example" > "$work/small.txt"

measure() {  # list file [binary] -> "seconds max_rss_kib"
    cat > "$work/sinkhole.yaml" <<YAML
node: bench
sinkhole_addresses: [198.51.100.10]
families:
  - name: dga
    domains: [$1]
dns: {listen: ["127.0.0.1:0"]}
store: {sqlite: $work/unused.db}
YAML
    /usr/bin/time -f "%e %M" "${2:-$bin}" check-config --config "$work/sinkhole.yaml" 2>&1 >/dev/null | tail -1
}

read -r small_s small_kib < <(measure "$work/small.txt")
read -r big_s big_kib < <(measure "$work/big.txt")
awk -v n="$count" -v ss="$small_s" -v sk="$small_kib" -v bs="$big_s" -v bk="$big_kib" 'BEGIN {
    printf "| list | names | seconds | max RSS (MiB) |\n| --- | ---: | ---: | ---: |\n"
    printf "| anchor (1 name) | 1 | %.2f | %.1f |\n", ss, sk / 1024
    printf "| DGA-shaped | %d | %.2f | %.1f |\n\n", n, bs, bk / 1024
    printf "load time over the anchor: %.2f s for %d names (target < 2 s)\n", bs - ss, n
    printf "resident memory over the anchor: %.0f bytes per name (target <= 150)\n", (bk - sk) * 1024 / n
}'
if [ -n "${BASELINE:-}" ]; then
    read -r base_small_s base_small_kib < <(measure "$work/small.txt" "$BASELINE")
    read -r base_s base_kib < <(measure "$work/big.txt" "$BASELINE")
    awk -v n="$count" -v ss="$small_s" -v sk="$small_kib" -v bs="$big_s" -v bk="$big_kib" \
        -v bss="$base_small_s" -v bsk="$base_small_kib" -v bbs="$base_s" -v bbk="$base_kib" 'BEGIN {
        printf "baseline %s: %.2f s and %.0f bytes per name over its anchor; this build takes %.2fx the time, %.2fx the memory\n",
            ENVIRON["BASELINE"], bbs - bss, (bbk - bsk) * 1024 / n, (bs - ss) / (bbs - bss), (bk - sk) / (bbk - bsk)
    }'
fi
