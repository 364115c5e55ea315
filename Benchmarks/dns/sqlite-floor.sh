#!/usr/bin/env bash
# The floor SQLite puts under "every query stored": user-space instructions per stored row
# for the sinkhole's dns_queries upsert, a plain append of the same columns, and a compact
# six-integer row, each the slope between ROWS1 and ROWS2 distinct rows under callgrind (what
# a run pays once cancels out). Compare with NSD's whole cost per query from `make bench-dns`.
#
# Usage: Benchmarks/dns/sqlite-floor.sh        ROWS1=10000 ROWS2=50000 (environment overrides)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rows1=${ROWS1:-10000}
rows2=${ROWS2:-50000}
. "$here/../lib/setup.sh"
install_missing "gcc libsqlite3-dev valgrind sqlite3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/sqlite-floor" "$here/sqlite-floor.c" -lsqlite3
echo "SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo '?'), rows $rows1 and $rows2, one transaction per 4096 rows"
ir() {  # mode rows -> total instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/sqlite-floor" "$1" "$2" "$work/floor.db" 2>&1 \
        | awk '/refs:/ { gsub(",", "", $NF); print $NF }'
}
for mode in upsert insert compact; do
    a=$(ir "$mode" "$rows1")
    b=$(ir "$mode" "$rows2")
    printf '%-8s %6.0f instructions per stored row\n' "$mode" "$(awk -v a="$a" -v b="$b" -v n1="$rows1" -v n2="$rows2" 'BEGIN { print (b - a) / (n2 - n1) }')"
done
