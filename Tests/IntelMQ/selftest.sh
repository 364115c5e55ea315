#!/usr/bin/env bash
# Proves check_shadowserver.py passes the hand-written samples and fails on what must fail, and
# pins down what IntelMQ 3.5.0's Shadowserver parser does with the CSV details the exporter
# decides (file names, IPv6 rows, empty fields, severity, BOM...), so a change in IntelMQ or in
# the checker shows here first.
#
#   Tests/IntelMQ/selftest.sh [VENV_DIR]     (VENV_DIR as for setup.sh)
#
# Each case copies samples/ to a temporary directory, changes one thing, runs the checker and
# requires its exit status and a line of its output. Ends with "N passed, N failed".
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=$("$here/setup.sh" "$@") || { echo "selftest: setup.sh failed" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/intelmq-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

D=2026-11-28
HTTP=$D-event4_sinkhole_http-node1.csv
TCP=$D-event4_sinkhole-node1.csv
DNS=$D-event4_sinkhole_dns-node1.csv
passed=0 failed=0

# check NAME WANT_STATUS PATTERN...: runs the checker on $dir/$exp; WANT_STATUS 0 or "fail"
# (any non-zero but 2, which means bad usage); each PATTERN must match a line of its output.
check() {
    local name=$1 want=$2 out status pattern; shift 2
    out=$("$py" "$here/check_shadowserver.py" "$dir" "$exp" 2>&1); status=$?
    local ok=1
    if [ "$want" = 0 ]; then [ "$status" = 0 ] || ok=0; else [ "$status" != 0 ] && [ "$status" != 2 ] || ok=0; fi
    for pattern in "$@"; do grep -qE -- "$pattern" <<<"$out" || ok=0; done
    if [ "$ok" = 1 ]; then
        passed=$((passed + 1)); echo "ok   $name"
    else
        failed=$((failed + 1)); echo "FAIL $name (exit $status, wanted $want and lines matching: $*):"
        sed 's/^/     | /' <<<"$out"
    fi
}

# fresh: a new copy of the samples as $dir, their expectations as $exp.
fresh() {
    dir=$work/$1; exp=$work/$1-expected/expected.jsonl
    mkdir -p "$dir" "$work/$1-expected"; cp "$here"/samples/*.csv "$dir"/; cp "$here/samples/expected.jsonl" "$exp"
}
# row FILE N: the Nth data row of FILE in $dir.
row() { sed -n "$(($2 + 1))p" "$dir/$1"; }
# add FILE LINE EXPECTED_JSON...: appends a data row to FILE and its expectations to $exp.
add() { local file=$1 line=$2; shift 2; echo "$line" >> "$dir/$file"; for j in "$@"; do echo "$j" >> "$exp"; done; }
tcp_row() { # tcp_row SRC_IP SRC_PORT INFECTION SEVERITY: an event4_sinkhole row, fields raw as given
    echo "\"$D 07:00:00\",\"tcp\",$1,$2,64503,,,,,,,,,,$4,\"198.51.100.20\",9000,,,,,,,,,$3,,,,,\"e-x\",,"
}
tcp_expect() { echo "{\"file\": \"$1\", \"src_ip\": \"$2\", \"src_port\": $3, \"time\": \"${D}T07:00:00+00:00\", \"malware\": \"necurs\", \"severity\": \"critical\"}"; }
dns_row() { echo "\"$D 09:00:00\",\"udp\",\"$1\",53000,64504,,,,,,,,,,\"info\",\"conficker\",,,\"A\",\"x1.cc.botnet.example\",1"; }
dns_expect() { echo "{\"file\": \"$1\", \"src_ip\": \"$2\", \"src_port\": 53000, \"time\": \"${D}T09:00:00+00:00\", \"malware\": \"conficker\", \"severity\": \"info\"}"; }

# --- the samples, and what the checker must catch -------------------------------------------
fresh samples
check "the samples parse cleanly, every row an event matching expected.jsonl" 0 "^files: 5 passed, 0 failed$"

fresh wrong-port
sed -i '0,/"src_port": 49153/s//"src_port": 49999/' "$exp"
check "a wrong port in expected.jsonl fails, naming the file and the CSV line" fail \
    "^FAIL $HTTP: expected.jsonl line 2: no such event: .*source.port=49999" "^  line 3: event not in expected.jsonl: .*source.port=49153"

fresh wrong-time
sed -i 's/"time": "2026-11-28T01:02:03+00:00"/"time": "2026-11-28T01:02:04+00:00"/' "$exp"
check "a wrong time in expected.jsonl fails" fail "no such event: .*time.source=2026-11-28T01:02:04"

fresh wrong-malware
sed -i '0,/"malware": "dridex"/s//"malware": "ramnit"/' "$exp"
check "a wrong malware name in expected.jsonl fails" fail "no such event: .*malware.name=ramnit"

fresh missing-expected-row
sed -i '/"src_port": 53001/d' "$exp"
check "a row missing from expected.jsonl fails" fail "line 3: event not in .*source.port=53001"

fresh broken-quote
sed -i '2s/"cc.botnet.example","Mozilla/"cc.botnet.example,"Mozilla/' "$dir/$HTTP"
check "a row with an unbalanced quote fails" fail "$HTTP: line 2: not one complete CSV record"

fresh broken-field-count
sed -i '2s/,"node1"$//' "$dir/$HTTP"
check "a row with a field missing fails (IntelMQ itself would take it silently)" fail "$HTTP: line 2: 38 fields, the header has 39"

fresh raw-newline
printf '%s\n' "$(row $TCP 1 | sed 's/,,$/,,"a/')" 'b"' > "$work/rows"; sed -i '2d' "$dir/$TCP"; sed -i '1r '"$work/rows" "$dir/$TCP"
check "a field with a raw line feed (a row over two lines) fails" fail "$TCP: line [23]: "

fresh raw-nul
sed -i '2s/"necurs"/"nec\x00urs"/' "$dir/$TCP"
check "a raw NUL byte fails (IntelMQ deletes NULs silently)" fail "$TCP: line 2: NUL byte"

fresh raw-invalid-utf8
sed -i '2s/"necurs"/"nec\xffurs"/' "$dir/$TCP"
check "a raw invalid UTF-8 byte fails (IntelMQ drops it silently)" fail "$TCP: line 2: not UTF-8"

fresh blank-line
echo >> "$dir/$TCP"; tcp_row '"203.0.113.40"' 1 '"necurs"' '"critical"' >> "$dir/$TCP"; tcp_expect "$TCP" 203.0.113.40 1 >> "$exp"
check "a blank line between rows fails" fail "$TCP: line 6: blank line"

fresh missing-file
rm "$dir/$DNS"
check "a file in expected.jsonl but not in the directory fails" fail "FAIL $DNS: in .* but not in"

fresh empty-dir
rm "$dir"/*.csv
check "a directory without CSV fails" fail "no \*.csv to check"

fresh empty-file
: > "$dir/$D-event4_sinkhole-node2.csv"
check "an empty file (no header row) fails" fail "node2.csv: empty file"

fresh bom
{ printf '\xef\xbb\xbf'; cat "$dir/$TCP"; } > "$work/with-bom"; mv "$work/with-bom" "$dir/$TCP"
check "a UTF-8 byte-order mark fails: IntelMQ no longer finds the timestamp column" fail "Required column 'timestamp' not found"

fresh missing-column
sed -i '1s/,"count"$//; 2,$s/,[0-9]*$//' "$dir/$DNS"
check "a header without one of the report's columns fails (IntelMQ warns)" fail "Optional key 'count' not found"

# --- file names -----------------------------------------------------------------------------
fresh name-dashes
mv "$dir/$TCP" "$dir/$D-event4-sinkhole-node1.csv"; sed -i "s/$TCP/$D-event4-sinkhole-node1.csv/" "$exp"
check "a report type written with dashes fails the whole file" fail "Could not get a config for 'event4'"

fresh name-dots
mv "$dir/$TCP" "$dir/$D-event4_sinkhole-sink1.example.org.csv"; sed -i "s/$TCP/$D-event4_sinkhole-sink1.example.org.csv/" "$exp"
check "a node name with dots in the file name fails the whole file" fail "'extra.file_name' .* is not valid"

fresh name-event6-dns
mv "$dir/$DNS" "$dir/$D-event6_sinkhole_dns-node1.csv"; sed -i "s/$DNS/$D-event6_sinkhole_dns-node1.csv/" "$exp"
check "event6_sinkhole_dns is not a report type IntelMQ knows: the whole file fails" fail "Could not get a config for 'event6_sinkhole_dns'"

fresh name-node-dash
mv "$dir/$TCP" "$dir/$D-event4_sinkhole-node-1_a.csv"; sed -i "s/$TCP/$D-event4_sinkhole-node-1_a.csv/" "$exp"
check "a node name with dashes and underscores is accepted" 0 "^ok   $D-event4_sinkhole-node-1_a.csv: 4 rows, 4 events"

# --- what IntelMQ accepts and what it silently drops ----------------------------------------
fresh dns-ipv6
add "$DNS" "$(dns_row 2001:db8::53)" "$(dns_expect "$DNS" 2001:db8::53)"
check "an IPv6 resolver in event4_sinkhole_dns is accepted" 0 "^ok   $DNS: 4 rows, 4 events \(Sinkhole-DNS\)"

fresh ipv6-in-event4
add "$TCP" "$(tcp_row '"2001:db8:5::1"' 7 '"necurs"' '"critical"')" "$(tcp_expect "$TCP" 2001:db8:5::1 7)"
check "IntelMQ does not check the address family against event4/event6 in the name" 0 "^ok   $TCP: 5 rows"

fresh ipv4-mapped
add "$TCP" "$(tcp_row '"::ffff:203.0.113.9"' 7 '"necurs"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.9 7)"
check "an IPv4-mapped IPv6 source stays IPv6 in IntelMQ (exporter must unmap)" fail "event not in .*source.ip=::ffff:cb00:7109"

fresh ipv6-uncompressed
add "$TCP" "$(tcp_row '"2001:0DB8:0000:0000:0000:0000:0000:0009"' 7 '"necurs"' '"critical"')" "$(tcp_expect "$TCP" 2001:db8::9 7)"
check "IPv6 text is compared as an address (IntelMQ compresses and lowercases it)" 0 "^ok   $TCP: 5 rows"

fresh empty-port
add "$TCP" "$(tcp_row '"203.0.113.41"' '' '"necurs"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.41 0)"
check "an empty src_port gives an event without source.port, no error: the checker fails it" fail "source.port=<absent> \(CSV src_port: ''\)"

fresh quoted-port
add "$TCP" "$(tcp_row '"203.0.113.42"' '"42"' '"necurs"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.42 42)"
check "a quoted integer is read as the integer" 0 "^ok   $TCP: 5 rows"

fresh unknown-infection
add "$TCP" "$(tcp_row '"203.0.113.43"' 43 '"unknown"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.43 43 | sed 's/necurs/unknown/')"
check "infection 'unknown' (also '0' and empty) gives no malware.name: the checker fails it" fail "malware.name=<absent> \(CSV infection: 'unknown'\)"

fresh non-ascii-infection
add "$TCP" "$(tcp_row '"203.0.113.44"' 44 '"Ботнет"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.44 44 | sed 's/necurs/ботнет/')"
check "a non-ASCII family is no malware.name (IntelMQ allows printable ASCII only): fails" fail "malware.name=<absent> \(CSV infection: 'Ботнет'\)"

fresh uppercase-infection
add "$TCP" "$(tcp_row '"203.0.113.45"' 45 '"NeCurs"' '"critical"')" "$(tcp_expect "$TCP" 203.0.113.45 45 | sed 's/necurs/NECURS/')"
check "malware names compare case-insensitively (IntelMQ lowercases malware.name)" 0 "^ok   $TCP: 5 rows"

fresh asn-text
add "$TCP" "$(tcp_row '"203.0.113.49"' 49 '"necurs"' '"critical"' | sed 's/,64503,/,"AS64503",/')" "$(tcp_expect "$TCP" 203.0.113.49 49)"
check "a non-integer in an integer column (src_asn, dst_port, count...) makes IntelMQ reject the row" fail \
    "Could not convert shadowkey: 'src_asn'" "IntelMQ rejected 1 line" "line 6: no event"

fresh bad-severity
add "$TCP" "$(tcp_row '"203.0.113.46"' 46 '"necurs"' '"crit"')" "$(tcp_expect "$TCP" 203.0.113.46 46)"
check "a severity outside critical|high|medium|low|info|undefined goes to extra.severity: fails" fail "severity=<absent> \(CSV severity: 'crit'\)"

fresh severity-case
add "$TCP" "$(tcp_row '"203.0.113.47"' 47 '"necurs"' '"Critical"')" "$(tcp_expect "$TCP" 203.0.113.47 47)"
check "severity is lowercased by IntelMQ" 0 "^ok   $TCP: 5 rows"

fresh fraction
add "$TCP" "$(tcp_row '"203.0.113.48"' 48 '"necurs"' '"critical"' | sed 's/07:00:00/07:00:00.5/')" "$(tcp_expect "$TCP" 203.0.113.48 48)"
check "fractional seconds are kept by IntelMQ and differ from the stored second: fails" fail "time.source=2026-11-28T07:00:00.500000"

fresh header-only
head -1 "$dir/$TCP" > "$dir/$D-event4_sinkhole-node2.csv"
check "a file with the header row and no data rows passes with 0 events" 0 "^ok   $D-event4_sinkhole-node2.csv: 0 rows, 0 events"

fresh crlf
sed -i 's/$/\r/' "$dir/$TCP"
check "CRLF line ends are accepted" 0 "^ok   $TCP: 4 rows, 4 events"

echo "selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
