#!/usr/bin/env bash
# The sinkhole's DNS speed against NSD and Knot DNS, the two authoritative servers operators
# know, on the same seized names, in the same run:
# - throughput: dnsperf for DURATION seconds against each server in turn, ROUNDS rounds
#   (servers interleaved, order rotated per round), UDP then TCP (8 pipelined connections);
#   server pinned to core 0, dnsperf to core 1; medians of queries/s and lost %;
# - instructions per query under callgrind: one instance per server, its counters dumped after
#   CG_N1 queries and after CG_N2 more (prefixes of the same query file); (Ir(N2 phase) -
#   Ir(N1 phase)) / (N2 - N1), so what every phase pays once cancels out; for the sinkhole that
#   includes its writer thread storing every query in SQLite;
# - after every sinkhole run (SIGTERM: it drains and flushes), its store must have counted
#   every query dnsperf sent: PASS or FAIL.
# NSD is authoritative for one zone per seized name (SOA, NS, A and a wildcard A), Knot the
# same, the sinkhole has one family listing them. Every server runs in the foreground on a free
# loopback port with its config and data in a temp dir, and is stopped by PID on exit.
#
# Usage: Benchmarks/dns/run.sh [--quick]      (installs what is missing, builds the sinkhole)
#   DURATION=15 ROUNDS=3 NAMES=10000 QUERIES=100000 CLIENTS=8 OUTSTANDING=100
#   CG_N1=2000 CG_N2=42000 CALLGRIND=1        environment overrides (defaults shown);
#   SERVERS="nsd knot sinkhole"              a subset while iterating on one server (the
#                                            ratios need the anchors in the same run);
#   CALLGRIND_OUT=DIR keeps the callgrind files (NAME.PID.2 and .3: the two phases) for
#   callgrind_annotate.
#   --quick: DURATION=3 ROUNDS=1, callgrind as usual (it counts instructions, not seconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/dns
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$here/run.sh"; exit 2 ;;
esac
if [ "$quick" = 1 ]; then duration=${DURATION:-3}; rounds=${ROUNDS:-1}; else duration=${DURATION:-15}; rounds=${ROUNDS:-3}; fi
names=${NAMES:-10000}
queries=${QUERIES:-100000}
clients=${CLIENTS:-8}
outstanding=${OUTSTANDING:-100}
cg_n1=${CG_N1:-2000}
cg_n2=${CG_N2:-42000}
callgrind=${CALLGRIND:-1}
[ "$cg_n2" -gt "$cg_n1" ] && [ "$queries" -ge "$cg_n2" ] || { echo "need CG_N1 < CG_N2 <= QUERIES" >&2; exit 2; }

# Debian packages, installed only when missing; the nsd and knot units their install starts are
# stopped again: the benchmark runs its own instances and leaves no DNS server on port 53.
. Benchmarks/lib/setup.sh
install_missing "nsd knot dnsperf valgrind dnsutils sqlite3 python3 util-linux procps binutils coreutils" "nsd knot"

build_release_sinkhole
work=$(mktemp -d)
pids=()

# descendants, stop_pid, cpu_ticks, wait_quiet, median: stop every process by PID, etc.
. Benchmarks/lib/processes.sh
cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid" 10 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$here/generate.py" "$work" "$names" "$queries"
# Three free loopback ports, each free for both UDP and TCP.
read -r port_nsd port_knot port_sinkhole < <(free_ports 3)
mkdir -p "$work/nsd" "$work/knot"
sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port_nsd|g" "$here/nsd.conf.in" > "$work/nsd.conf"
cat "$work/nsd.zones" >> "$work/nsd.conf"
sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port_knot|g" "$here/knot.conf.in" > "$work/knot.conf"
cat "$work/knot.zones" >> "$work/knot.conf"

port_of() { case $1 in nsd) echo "$port_nsd" ;; knot) echo "$port_knot" ;; sinkhole) echo "$port_sinkhole" ;; esac; }
label_of() {
    case $1 in
        nsd) echo "NSD $(nsd -v 2>&1 | head -1 | awk '{print $3}')" ;;
        knot) echo "Knot $(knotd -V | awk '{print $NF}')" ;;
        sinkhole) echo "sinkhole $(git describe --always --dirty 2>/dev/null || echo '?')" ;;
    esac
}

# Starts server $1 (with its output in $work/$1.log) behind the command prefix in the rest of
# the arguments (taskset, valgrind); sets server_pid. A sinkhole gets a fresh store, $store.
start_server() {
    local name=$1; shift
    local cmd
    case $name in
        nsd) cmd=(nsd -d -c "$work/nsd.conf") ;;
        knot) cmd=(knotd -c "$work/knot.conf") ;;
        sinkhole)
            store="$work/sinkhole-$((++store_seq)).db"
            sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port_sinkhole|g" -e "s|@STORE@|$store|g" \
                "$here/sinkhole.yaml.in" > "$work/sinkhole.yaml"
            local exe=$bin
            [ "${1:-}" = valgrind ] && exe=$work/sinkhole-nodebug
            cmd=("$exe" run --config "$work/sinkhole.yaml") ;;
    esac
    "$@" "${cmd[@]}" > "$work/$name.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
}
store_seq=0

# Ready when every sampled seized name (the first, the last, every 1000th) gets an
# authoritative NOERROR for TXT: Knot loads zones in the background after it starts. TXT so
# the sinkhole's store can tell these probes from dnsperf's A and AAAA queries.
wait_ready() {  # name seconds
    local port deadline sample n ok out
    port=$(port_of "$1")
    deadline=$(( SECONDS + $2 ))
    sample=$(awk 'NR == 1 || NR % 1000 == 0 { print } END { if (NR % 1000) print }' "$work/names.txt")
    while (( SECONDS < deadline )); do
        kill -0 "$server_pid" 2>/dev/null || { echo "$1 exited while starting:" >&2; tail -20 "$work/$1.log" >&2; exit 1; }
        ok=1
        for n in $sample; do
            out=$(dig +norec +tries=1 +time=2 -p "$port" @127.0.0.1 "$n" TXT 2>&1 || true)
            [[ $out == *"status: NOERROR"* && $out == *"flags: qr aa;"* ]] || { ok=0; break; }
        done
        [ "$ok" = 1 ] && return 0
        sleep 1
    done
    echo "$1 not answering after $2 s:" >&2; tail -20 "$work/$1.log" >&2; exit 1
}


# dnsperf's report -> "sent completed lost_pct qps noerror_pct"
parse_dnsperf() {
    awk '/Queries sent:/ { sent = $3 } /Queries completed:/ { done = $3 }
         /Queries lost:/ { gsub(/[()%]/, "", $4); lost = $4 }
         /Queries per second:/ { qps = $4 }
         /Response codes:/ { for (i = 3; i < NF; i += 3) if ($i == "NOERROR") { v = $(i + 2); gsub(/[(),%]/, "", v); noerr = v } }
         END { if (sent == "") exit 1; printf "%s %s %s %s %s\n", sent, done, lost, qps, (noerr == "" ? 0 : noerr) }' "$1"
}


store_failures=0
# The sinkhole's store after a clean stop: sum(count) of A/AAAA rows in dns_queries (the
# readiness probes ask TXT) must equal what dnsperf reported sent. The run's counters are
# printed beside it: events dropped on a full ring are counted, not stored, and still FAIL
# this check, which asks for every query stored.
check_store() {  # status sent what
    local counted total offered stored dropped verdict=PASS why=""
    counted=$(sqlite3 "$store" "SELECT coalesce(sum(count), 0) FROM dns_queries WHERE qtype IN (1, 28)")
    total=$(sqlite3 "$store" "SELECT coalesce(sum(count), 0) FROM dns_queries")
    IFS='|' read -r offered stored dropped < <(sqlite3 "$store" "SELECT offered, stored, dropped FROM runs ORDER BY run_id DESC LIMIT 1")
    if [ "$1" != 0 ] || [ "$counted" != "$2" ]; then
        verdict=FAIL
        store_failures=$(( store_failures + 1 ))
        [ "$dropped" -gt 0 ] && why=" ($dropped dropped on a full event ring, counted as dropped)"
        [ "$offered" = $(( stored + dropped )) ] || why="$why (offered != stored + dropped: events lost uncounted)"
    fi
    echo "  store check ($3): dnsperf sent $2, dns_queries counted $counted A/AAAA (+$(( total - counted )) readiness probes);" \
         "run offered $offered, stored $stored, dropped $dropped; sinkhole exit $1: $verdict$why"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); $(nproc) cores"
echo "$names seized names, $queries query lines; dnsperf -c $clients -q $outstanding for $duration s, $rounds round(s)"
read -r -a servers <<< "${SERVERS:-nsd knot sinkhole}"
for name in "${servers[@]}"; do
    case $name in nsd|knot|sinkhole) ;; *) echo "SERVERS: unknown server $name (nsd, knot, sinkhole)" >&2; exit 2 ;; esac
done
nservers=${#servers[@]}
: > "$work/results"
for (( round = 1; round <= rounds; round++ )); do
    for (( k = 0; k < nservers; k++ )); do
        name=${servers[$(( (k + round - 1) % nservers ))]}
        port=$(port_of "$name")
        start_server "$name" taskset -c 0
        wait_ready "$name" 120
        wait_quiet "$name" 120
        sent_total=0
        for mode in udp tcp; do
            timeout $(( duration + 60 )) taskset -c 1 dnsperf -m "$mode" -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
                -l "$duration" -c "$clients" -q "$outstanding" -t 5 > "$work/dnsperf.out" 2>&1 \
                || { echo "dnsperf failed against $name over $mode:" >&2; tail -20 "$work/dnsperf.out" >&2; exit 1; }
            read -r sent done lost qps noerr < <(parse_dnsperf "$work/dnsperf.out")
            sent_total=$(( sent_total + sent ))
            echo "$name $mode $round $qps $lost" >> "$work/results"
            printf 'round %d %-8s %s: %10.0f queries/s, sent %d, lost %s%%, NOERROR %s%%\n' "$round" "$name" "$mode" "$qps" "$sent" "$lost" "$noerr"
        done
        status=0
        stop_pid "$server_pid" 60 || status=$?
        if [ "$name" = sinkhole ]; then check_store "$status" "$sent_total" "round $round, udp + tcp"; fi
    done
done

# Instructions per query. Each server starts once under callgrind and loads its zones (Knot
# takes minutes there: it parses 10,000 zone files); once it answers and is idle, its counters
# are zeroed (callgrind_control, by PID) and dumped after 5 idle seconds (printed: what timers
# and polling cost per second), then it answers CG_N1 queries from dnsperf, a dump, CG_N2
# queries, a dump. (Ir(N2 phase) - Ir(N1 phase)) / (CG_N2 - CG_N1) is the cost of a query:
# what both phases share (the dump, the store wait) cancels out; idle cost over the longer
# phase's extra seconds does not, and the idle rate shows how much that can be. dnsperf
# keeps 10 queries outstanding and its timeout is long, so none is lost and the counts are
# exact. The sinkhole's dump waits until its store holds every query of the phase, so its
# writer's batches (dedup, SQLite upserts, commits) are in the count. Files are per process:
# NSD's server process is the busiest; Knot and the sinkhole are one process, every thread in.
# The sinkhole runs from a copy without DWARF (the same code): Debian 12's valgrind 3.19 gives
# up on the Swift toolchain's DWARF 5.
declare -A ipq
cg_dump() {
    local p
    dump=$(( dump + 1 ))
    for p in $procs; do callgrind_control --dump "$p" >> "$work/callgrind_control.log" 2>&1; done
    read -r ir_dump ir_file < <(awk '/^totals:/ { print $2, FILENAME }' "$work/cg-$name/"*".$dump" 2>/dev/null | sort -g | tail -1) || true
    [ -n "${ir_dump:-}" ] || { echo "callgrind: no dump $dump from $name" >&2; cat "$work/callgrind_control.log" >&2; exit 1; }
    ir_file=$(basename "$ir_file")
}
if [ "$callgrind" = 1 ]; then
    head -n "$cg_n1" "$work/queries.txt" > "$work/cg-$cg_n1.txt"
    head -n "$cg_n2" "$work/queries.txt" > "$work/cg-$cg_n2.txt"
    objcopy --strip-debug "$bin" "$work/sinkhole-nodebug"
    # Start-up runs without instrumentation (--instr-atstart=no, switched on by PID once the
    # server is idle), several times faster. Knot's zone loading is still the longest step: it
    # starts first and loads while NSD and the sinkhole are measured.
    declare -A cg_pid cg_started
    cg_start() {
        mkdir -p "$work/cg-$1"
        cg_started[$1]=$SECONDS
        start_server "$1" valgrind --tool=callgrind --trace-children=yes --instr-atstart=no \
            --callgrind-out-file="$work/cg-$1/$1.%p"
        cg_pid[$1]=$server_pid
    }
    cg_order=()
    for name in nsd sinkhole knot; do
        [[ " ${servers[*]} " == *" $name "* ]] && cg_order+=("$name")
    done
    [[ " ${cg_order[*]} " == *" knot "* ]] && cg_start knot
    for name in "${cg_order[@]}"; do
        port=$(port_of "$name")
        [ "$name" = knot ] || cg_start "$name"
        server_pid=${cg_pid[$name]}
        wait_ready "$name" 900
        ready=$(( SECONDS - cg_started[$name] ))
        wait_quiet "$name" 900
        echo "callgrind $name: answering $ready s after its start, idle after $(( SECONDS - cg_started[$name] )) s"
        procs="$server_pid $(descendants "$server_pid")"
        for p in $procs; do
            callgrind_control --instr=on "$p" >> "$work/callgrind_control.log" 2>&1
            callgrind_control --zero "$p" >> "$work/callgrind_control.log" 2>&1
        done
        dump=0
        phase_start=$EPOCHREALTIME
        sleep 5
        cg_dump
        idle_rate=$(awk -v ir="$ir_dump" -v t0="$phase_start" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.0f", ir / (t1 - t0) }')
        echo "callgrind $name: idle $idle_rate Ir/s (its timers and polling, 5 s)"
        sent_total=0
        declare -A ir=() seconds=()
        for n in "$cg_n1" "$cg_n2"; do
            phase_start=$EPOCHREALTIME
            timeout 1800 dnsperf -s 127.0.0.1 -p "$port" -d "$work/cg-$n.txt" -n 1 -c 1 -q 10 -t 60 > "$work/dnsperf.out" 2>&1 \
                || { echo "dnsperf failed against $name under callgrind:" >&2; tail -20 "$work/dnsperf.out" >&2; exit 1; }
            read -r sent done lost qps noerr < <(parse_dnsperf "$work/dnsperf.out")
            [ "$sent" = "$n" ] && [ "$done" = "$n" ] || { echo "callgrind: $name answered $done of $sent queries (wanted $n)" >&2; exit 1; }
            sent_total=$(( sent_total + sent ))
            if [ "$name" = sinkhole ]; then
                for (( i = 0; i < 600; i++ )); do
                    counted=$(sqlite3 "$store" "SELECT coalesce(sum(count), 0) FROM dns_queries WHERE qtype IN (1, 28)")
                    [ "$counted" = "$sent_total" ] && break
                    sleep 0.5
                done
                [ "$counted" = "$sent_total" ] || echo "  the store holds $counted of $sent_total queries at this dump (waited 300 s)"
            fi
            cg_dump
            ir[$n]=$ir_dump
            seconds[$n]=$(awk -v t0="$phase_start" -v t1="$EPOCHREALTIME" 'BEGIN { print t1 - t0 }')
            awk -v s="$name" -v n="$n" -v ir="$ir_dump" -v t0="$phase_start" -v t1="$EPOCHREALTIME" -v np="$(wc -w <<< "$procs")" -v f="$ir_file" \
                'BEGIN { printf "callgrind %s: %d queries in %.1f s, Ir %.0f (busiest of %d process(es): %s)\n", s, n, t1 - t0, ir, np, f }'
        done
        ipq[$name]=$(awk -v a="${ir[$cg_n1]}" -v b="${ir[$cg_n2]}" -v n1="$cg_n1" -v n2="$cg_n2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
        idle_share=$(awk -v r="$idle_rate" -v a="${seconds[$cg_n1]}" -v b="${seconds[$cg_n2]}" -v n1="$cg_n1" -v n2="$cg_n2" \
            'BEGIN { printf "%.0f", r * (b - a) / (n2 - n1) }')
        unset ir seconds
        status=0
        if [ "$name" = sinkhole ]; then
            stop_pid "$server_pid" 600 || status=$?
            check_store "$status" "$sent_total" "under callgrind"
        else
            stop_pid "$server_pid" 20 || true  # measured already; Knot takes minutes to stop here
        fi
        if [ -n "${CALLGRIND_OUT:-}" ]; then mkdir -p "$CALLGRIND_OUT" && cp "$work/cg-$name/"* "$CALLGRIND_OUT/"; fi
        echo "callgrind $name: ${ipq[$name]} instructions/query, of which at most $idle_share the idle rate over the" \
             "longer phase's extra seconds ($(( SECONDS - cg_started[$name] )) s under valgrind)"
    done
fi

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| server | UDP queries/s (median) | UDP lost % | TCP queries/s (median) | TCP lost % | instructions/query |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
declare -A udp tcp
for name in "${servers[@]}"; do
    udp[$name]=$(awk -v s="$name" '$1 == s && $2 == "udp" { print $4 }' "$work/results" | median)
    tcp[$name]=$(awk -v s="$name" '$1 == s && $2 == "tcp" { print $4 }' "$work/results" | median)
    udp_lost=$(awk -v s="$name" '$1 == s && $2 == "udp" { print $5 }' "$work/results" | median)
    tcp_lost=$(awk -v s="$name" '$1 == s && $2 == "tcp" { print $5 }' "$work/results" | median)
    printf '| %s | %.0f | %.2f | %.0f | %.2f | %s |\n' "$(label_of "$name")" "${udp[$name]}" "$udp_lost" \
        "${tcp[$name]}" "$tcp_lost" "${ipq[$name]:-not run}"
done
echo
for base in nsd knot; do
    [[ " ${servers[*]} " == *" $base "* && " ${servers[*]} " == *" sinkhole "* ]] || continue
    awk -v b="$(label_of "$base" | cut -d' ' -f1)" -v su="${udp[sinkhole]}" -v bu="${udp[$base]}" \
        -v st="${tcp[sinkhole]}" -v bt="${tcp[$base]}" -v si="${ipq[sinkhole]:-}" -v bi="${ipq[$base]:-}" 'BEGIN {
        printf "sinkhole / %s: UDP queries/s %.2f×, TCP queries/s %.2f×", b, su / bu, st / bt
        if (si != "" && bi != "") printf ", instructions/query %.2f×", si / bi
        printf "\n" }'
done
echo
args=""; [ "$quick" = 1 ] && args=" --quick"
echo "reproduce: DURATION=$duration ROUNDS=$rounds NAMES=$names QUERIES=$queries CLIENTS=$clients OUTSTANDING=$outstanding" \
     "CG_N1=$cg_n1 CG_N2=$cg_n2 CALLGRIND=$callgrind SERVERS=\"${servers[*]}\" $here/run.sh$args   (or: make bench-dns)"
if [ "$store_failures" -gt 0 ]; then
    echo "store check: FAIL ($store_failures sinkhole run(s) did not count every query sent)"
    exit 1
fi
echo "store check: PASS (every sinkhole run counted every query dnsperf sent)"
