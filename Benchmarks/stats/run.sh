#!/usr/bin/env bash
# `sinkhole stats` on a store of CHECKINS check-ins (default 10,000,000): the issue asks for an
# answer in under 1 s. The store is made by the sinkhole itself (its schema: one short run),
# then filled with SQL in the shape of a week of a takedown: BOTS bot addresses of 3 families
# checking in to 20 C&C names over 7 days, the infections and hourly summaries the writer
# would have kept (the same SQL as the summaries' migration), and DNS_ROWS dns_queries rows
# from 500 resolvers. Then, ROUNDS times each, median wall time:
# - `sinkhole stats --since 7d --format json` (what an analyst runs), and
# - the anchor: the same check-ins-per-service and top-names figures asked straight of
#   `checkins` with sqlite3 (what answering without the summaries would cost).
#
# Usage: Benchmarks/stats/run.sh      CHECKINS=10000000 BOTS=200000 DNS_ROWS=1000000 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
checkins=${CHECKINS:-10000000}
bots=${BOTS:-200000}
dns_rows=${DNS_ROWS:-1000000}
rounds=${ROUNDS:-3}
. Benchmarks/lib/setup.sh
install_missing "sqlite3 python3"
build_release_sinkhole
work=$(mktemp -d)
pid=""
cleanup() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

port=$(free_ports 1)
echo "bench.example" > "$work/names.txt"
cat > "$work/sinkhole.yaml" <<YAML
node: bench-node
sinkhole_addresses: [198.51.100.10]
families: [{name: rustock, domains: [names.txt]}]
dns: {listen: ["127.0.0.1:$port"]}
http: {listen: [], tls_listen: []}
store: {sqlite: store.db}
YAML
"$bin" run --config "$work/sinkhole.yaml" 2> "$work/run.log" &
pid=$!
for (( i = 0; i < 300; i++ )); do grep -q "sinkhole ready" "$work/run.log" && break; sleep 0.1; done
grep -q "sinkhole ready" "$work/run.log" || { cat "$work/run.log" >&2; exit 1; }
kill -TERM "$pid"; wait "$pid"; pid=""
db=$work/store.db

echo "filling $db: $checkins check-ins from $bots bots over 7 days, $dns_rows dns_queries rows"
start=$SECONDS
# Times: the 7 days before the last full hour; event ids as the deduplicator makes them (time first).
now=$(date +%s)
t0=$(( (now / 3600) * 3600 - 7 * 86400 ))
sqlite3 "$db" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $checkins)
INSERT INTO checkins (node, event_id, first_seen, last_seen, count, transport, service, family, src_ip, src_port,
                      dst_ip, dst_port, name, name_truncated, dns_type, dns_rcode, http_method, http_path, http_status)
SELECT 'bench-node',
       printf('%d-tcp-10.%d.%d.%d-%d-198.51.100.10-80', t, (b >> 16) & 255, (b >> 8) & 255, b & 255, 1024 + i % 60000),
       t, t, 1, 'tcp', CASE WHEN i % 10 < 7 THEN 'http' WHEN i % 10 < 9 THEN 'tls' ELSE 'tcp' END,
       CASE b % 3 WHEN 0 THEN 'rustock' WHEN 1 THEN 'conficker' ELSE 'necurs' END,
       printf('10.%d.%d.%d', (b >> 16) & 255, (b >> 8) & 255, b & 255), 1024 + i % 60000, '198.51.100.10', 80,
       printf('cc%d.botnet.example', b % 20), 0, 0, 0, 'POST', '/gate.php', 200
FROM (SELECT i, ($t0 + i * (7 * 86400) / $checkins) * 1000000 AS t, (i * 7919) % $bots AS b FROM n);
INSERT INTO infections (day, src_ip, family, first_seen, last_seen, count, last_src_port)
SELECT date(first_seen / 1000000, 'unixepoch'), src_ip, family, min(first_seen), max(last_seen), count(*), max(src_port)
FROM checkins GROUP BY 1, 2, 3;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $dns_rows)
INSERT INTO dns_queries (hour, src_ip, qname, qname_truncated, qtype, count, first_seen, last_seen, last_rcode, family)
SELECT ($t0 + i * (7 * 86400) / $dns_rows) / 3600 * 3600, printf('172.16.%d.%d', (i % 500) / 256, (i % 500) % 256),
       printf('q%d.cc%d.botnet.example', i, i % 20), 0, 1, 1 + i % 5, ($t0 + i * (7 * 86400) / $dns_rows) * 1000000,
       ($t0 + i * (7 * 86400) / $dns_rows) * 1000000, 0, 'conficker'
FROM n;
DELETE FROM service_hours; DELETE FROM name_hours; DELETE FROM resolver_hours; DELETE FROM infection_days;
INSERT INTO infection_days SELECT day, family, count(*) FROM infections GROUP BY 1, 2;
INSERT INTO service_hours
    SELECT first_seen / 3600000000 * 3600, service, family, sum(count), count(*) FROM checkins GROUP BY 1, 2, 3;
INSERT INTO service_hours
    SELECT hour, 'dns', family, sum(count), 0 FROM dns_queries GROUP BY 1, 3;
INSERT INTO name_hours
    SELECT first_seen / 3600000000 * 3600, family, lower(name), count(*) FROM checkins WHERE name != '' GROUP BY 1, 2, 3;
INSERT INTO resolver_hours
    SELECT hour, src_ip, sum(count) FROM dns_queries GROUP BY 1, 2;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
echo "filled in $(( SECONDS - start )) s: $(sqlite3 "$db" 'SELECT count(*) FROM checkins') check-ins," \
     "$(sqlite3 "$db" 'SELECT count(*) FROM infections') infections rows, $(du -h "$db" | cut -f1)"

. Benchmarks/lib/processes.sh  # median
timed() {  # command... -> seconds
    local t0=$EPOCHREALTIME
    "$@" > "$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}
since_us=$(( t0 * 1000000 ))
anchor() {
    sqlite3 "$db" "SELECT service, sum(count), count(*) FROM checkins WHERE first_seen >= $since_us GROUP BY service;
                   SELECT family, lower(name), count(*) FROM checkins WHERE first_seen >= $since_us AND name != ''
                   GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10;"
}
: > "$work/stats.t"; : > "$work/anchor.t"
for (( r = 1; r <= rounds; r++ )); do
    timed "$bin" stats --store "$db" --since 7d --format json >> "$work/stats.t"
    timed anchor >> "$work/anchor.t"
done
"$bin" stats --store "$db" --since 7d --format table | sed -n '1,12p'
s=$(median < "$work/stats.t"); a=$(median < "$work/anchor.t")
echo
echo "| what | median of $rounds (s) |"
echo "| --- | ---: |"
echo "| sinkhole stats --since 7d (every section) | $s |"
echo "| anchor: two of its sections asked straight of checkins | $a |"
awk -v s="$s" -v a="$a" 'BEGIN { printf "\nstats / anchor: %.3f× the time (target: stats under 1 s: %s)\n", s / a, (s < 1 ? "met" : "missed") }'
echo "reproduce: CHECKINS=$checkins BOTS=$bots DNS_ROWS=$dns_rows ROUNDS=$rounds Benchmarks/stats/run.sh"
