#!/usr/bin/env bash
# The sinkhole's HTTP speed against nginx, the server operators know, in the same run:
# - throughput: wrk for DURATION seconds against each server in turn, ROUNDS rounds (servers
#   interleaved, order rotated per round), in three modes: keep-alive with 64 and with 256
#   connections, and `Connection: close` (a new connection per request) with CLOSE_CONNS;
#   server pinned to core 0, wrk (one thread) to core 1; medians of requests/s;
# - instructions per `Connection: close` request under callgrind: one instance per server, its
#   counters dumped after CG_N1 requests and after CG_N2 more (closeclient.py: one connection
#   per request, one after another, so the counts are exact); (Ir(N2 phase) - Ir(N1 phase)) /
#   (N2 - N1), so what every phase pays once cancels out; for the sinkhole that includes its
#   writer thread storing every request in SQLite (the dump waits until the store holds them);
# - after every sinkhole run (SIGTERM: it drains and flushes), its store must hold every request
#   wrk completed: PASS or FAIL (see check_store for why "at least, and at most one more per
#   connection"); nginx's access log is counted the same way, as a check of the method.
# nginx (Debian's, one worker, `return 200`, access log on) and the sinkhole (default 200 with
# an empty body) each run in the foreground on a free loopback port with config, logs and store
# in a temp dir, as the current user, and are stopped by PID on exit; no system service is used.
#
# Usage: Benchmarks/http/run.sh [--quick]      (installs what is missing, builds the sinkhole)
#   DURATION=10 ROUNDS=3 CLOSE_CONNS=64 CG_N1=1000 CG_N2=11000 CALLGRIND=1
#                                             environment overrides (defaults shown);
#   CALLGRIND_OUT=DIR keeps the callgrind files (NAME.PID.2 and .3: the two phases) for
#   callgrind_annotate.
#   --quick: DURATION=3 ROUNDS=1, callgrind as usual (it counts instructions, not seconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/http
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$here/run.sh"; exit 2 ;;
esac
if [ "$quick" = 1 ]; then duration=${DURATION:-3}; rounds=${ROUNDS:-1}; else duration=${DURATION:-10}; rounds=${ROUNDS:-3}; fi
close_conns=${CLOSE_CONNS:-64}
cg_n1=${CG_N1:-1000}
cg_n2=${CG_N2:-11000}
callgrind=${CALLGRIND:-1}
[ "$cg_n2" -gt "$cg_n1" ] || { echo "need CG_N1 < CG_N2" >&2; exit 2; }

# Debian packages, installed only when missing; the nginx unit its install starts is stopped
# again: the benchmark runs its own nginx.
. Benchmarks/lib/setup.sh
install_missing "wrk nginx valgrind curl sqlite3 python3 util-linux procps binutils coreutils" "nginx"

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

# Three free loopback ports: nginx, the sinkhole's HTTP, and its DNS (free for UDP and TCP).
read -r port_nginx port_sinkhole port_dns < <(free_ports 3)
mkdir -p "$work/nginx-tmp"
# `user` takes effect only for root (whose worker would otherwise run as nobody).
nginx_user=""; [ "$(id -u)" = 0 ] && nginx_user="user $(id -un);"

port_of() { case $1 in nginx) echo "$port_nginx" ;; sinkhole) echo "$port_sinkhole" ;; esac; }
label_of() {
    case $1 in
        nginx) echo "nginx $(nginx -v 2>&1 | sed 's|.*nginx/||')" ;;
        sinkhole) echo "sinkhole $(git describe --always --dirty 2>/dev/null || echo '?')" ;;
    esac
}

# Starts server $1 (with its output in $work/$1.log) behind the command prefix in the rest of
# the arguments (taskset, valgrind); sets server_pid. A sinkhole gets a fresh store ($store),
# nginx a fresh access log. Under valgrind nginx runs as one process (no master), as the
# issue's instruction count was taken.
start_server() {
    local name=$1; shift
    local cmd master=on
    [ "${1:-}" = valgrind ] && master=off
    case $name in
        nginx)
            sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port_nginx|g" -e "s|@USER@|$nginx_user|g" \
                -e "s|@MASTER@|$master|g" "$here/nginx.conf.in" > "$work/nginx.conf"
            : > "$work/nginx-access.log"
            cmd=(nginx -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf") ;;
        sinkhole)
            store="$work/sinkhole-$((++store_seq)).db"
            sed -e "s|@PORT@|$port_sinkhole|g" -e "s|@DNSPORT@|$port_dns|g" -e "s|@STORE@|$store|g" \
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

# Ready when GET /ready answers 200. The probes' path keeps them apart from wrk's /bench in
# the store and the access log.
wait_ready() {  # name seconds
    local port deadline code
    port=$(port_of "$1")
    deadline=$(( SECONDS + $2 ))
    while (( SECONDS < deadline )); do
        kill -0 "$server_pid" 2>/dev/null || { echo "$1 exited while starting:" >&2; tail -20 "$work/$1.log" >&2; exit 1; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/ready" 2>/dev/null || true)
        [ "$code" = 200 ] && return 0
        sleep 0.5
    done
    echo "$1 not answering after $2 s:" >&2; tail -20 "$work/$1.log" >&2; exit 1
}


# wrk's report -> "completed requests_per_s socket_errors non_2xx"
parse_wrk() {
    awk '/ requests in / { done = $1 }
         /^Requests\/sec:/ { rps = $2 }
         /Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
         /Non-2xx or 3xx responses:/ { bad = $NF }
         END { if (done == "") exit 1; printf "%s %s %d %d\n", done, rps, errs, bad }' "$1"
}


# What each server logged of wrk's requests: the sinkhole's stored HTTP check-ins on /bench
# (events: sum(count); rows: count(*)), nginx's access-log lines for /bench.
logged_events() {  # name
    case $1 in
        sinkhole) sqlite3 "$store" "SELECT coalesce(sum(count), 0) FROM checkins WHERE service = 'http' AND http_path = '/bench'" ;;
        nginx) grep -c '"GET /bench HTTP/1.1" 200 ' "$work/nginx-access.log" || true ;;
    esac
}

store_failures=0
# wrk counts a request when its response has arrived; when its time is up it closes every
# connection, and a request it had sent but not yet seen answered is not counted, though the
# server may have read, answered and logged it. wrk does not pipeline, so each connection has
# at most one such request: a server that logs every request it reads logs at least what wrk
# completed and at most one more per connection. PASS = the sinkhole's run drained cleanly
# (exit 0, offered = stored, none dropped) and its stored HTTP check-ins are in that range.
# Rows are printed beside events: with `Connection: close` the client's ports come round again
# within writer.session_window_s, and the deduplicator folds a reused 5-tuple's request into
# the earlier row as a repeat (count > 1), as it does for any 5-tuple seen again in the window.
check_logged() {  # name status completed connections what
    local name=$1 logged rows="" offered stored dropped verdict=PASS why=""
    logged=$(logged_events "$name")
    if [ "$name" = sinkhole ]; then
        rows=$(sqlite3 "$store" "SELECT count(*) FROM checkins WHERE service = 'http' AND http_path = '/bench'")
        IFS='|' read -r offered stored dropped < <(sqlite3 "$store" "SELECT offered, stored, dropped FROM runs ORDER BY run_id DESC LIMIT 1")
        if [ "$2" != 0 ] || [ "$logged" -lt "$3" ] || [ "$logged" -gt $(( $3 + $4 )) ] || [ "$dropped" != 0 ] || [ "$offered" != "$stored" ]; then
            verdict=FAIL
            store_failures=$(( store_failures + 1 ))
            [ "$dropped" -gt 0 ] && why=" ($dropped dropped on a full event ring)"
            [ "$offered" = $(( stored + dropped )) ] || why="$why (offered != stored + dropped: events lost uncounted)"
        fi
        echo "  store check ($5): wrk completed $3 on $4 connections; stored $logged HTTP check-ins on /bench" \
             "(+$(( logged - $3 )) answered as wrk stopped) in $rows rows; run offered $offered, stored $stored," \
             "dropped $dropped; sinkhole exit $2: $verdict$why"
    else
        [ "$logged" -ge "$3" ] && [ "$logged" -le $(( $3 + $4 )) ] || verdict="outside the range"
        echo "  access log ($5): wrk completed $3 on $4 connections; nginx logged $logged (+$(( logged - $3 ))): $verdict"
    fi
}

modes=(keepalive64 keepalive256 close)
conns_of() { case $1 in keepalive64) echo 64 ;; keepalive256) echo 256 ;; close) echo "$close_conns" ;; esac; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); $(nproc) cores"
echo "wrk -t 1 for $duration s per mode (keep-alive 64 and 256 connections, Connection: close $close_conns), $rounds round(s)"
servers=(nginx sinkhole)
: > "$work/results"
for (( round = 1; round <= rounds; round++ )); do
    for (( k = 0; k < 2; k++ )); do
        name=${servers[$(( (k + round - 1) % 2 ))]}
        port=$(port_of "$name")
        start_server "$name" taskset -c 0
        wait_ready "$name" 120
        wait_quiet "$name" 120
        completed_total=0
        conns_total=0
        for mode in "${modes[@]}"; do
            conns=$(conns_of "$mode")
            header=(); [ "$mode" = close ] && header=(-H "Connection: close")
            timeout $(( duration + 60 )) taskset -c 1 wrk -t 1 -c "$conns" -d "${duration}s" "${header[@]}" \
                "http://127.0.0.1:$port/bench" > "$work/wrk.out" 2>&1 \
                || { echo "wrk failed against $name ($mode):" >&2; tail -20 "$work/wrk.out" >&2; exit 1; }
            read -r done rps errs bad < <(parse_wrk "$work/wrk.out") \
                || { echo "cannot read wrk's report against $name ($mode):" >&2; cat "$work/wrk.out" >&2; exit 1; }
            completed_total=$(( completed_total + done ))
            conns_total=$(( conns_total + conns ))
            echo "$name $mode $round $rps" >> "$work/results"
            printf 'round %d %-8s %-12s: %9.0f requests/s, %d completed, %d socket errors, %d non-2xx\n' \
                "$round" "$name" "$mode" "$rps" "$done" "$errs" "$bad"
        done
        status=0
        stop_pid "$server_pid" 60 || status=$?
        check_logged "$name" "$status" "$completed_total" "$conns_total" "round $round, all modes"
    done
done

# Instructions per `Connection: close` request. Each server starts once under callgrind; once
# it answers and is idle, its counters are zeroed (callgrind_control, by PID) and dumped after
# 5 idle seconds (printed: what timers and polling cost per second), then closeclient.py sends
# CG_N1 requests, a dump, CG_N2 requests, a dump. (Ir(N2 phase) - Ir(N1 phase)) / (CG_N2 -
# CG_N1) is the cost of one request with its connection's setup and teardown: what both phases
# share (the dump, the store wait) cancels out; idle cost over the longer phase's extra seconds
# does not, and the idle rate shows how much that can be. The sinkhole's dump waits until its
# store holds every request of the phase, so its writer's batches (dedup, SQLite inserts,
# commits) are in the count. nginx runs as one process (master_process off). The sinkhole runs
# from a copy without DWARF (the same code): Debian 12's valgrind 3.19 gives up on the Swift
# toolchain's DWARF 5.
declare -A ipr
cg_dump() {
    dump=$(( dump + 1 ))
    callgrind_control --dump "$server_pid" >> "$work/callgrind_control.log" 2>&1
    read -r ir_dump ir_file < <(awk '/^totals:/ { print $2, FILENAME }' "$work/cg-$name/"*".$dump" 2>/dev/null | sort -g | tail -1) || true
    [ -n "${ir_dump:-}" ] || { echo "callgrind: no dump $dump from $name" >&2; cat "$work/callgrind_control.log" >&2; exit 1; }
    ir_file=$(basename "$ir_file")
}
if [ "$callgrind" = 1 ]; then
    objcopy --strip-debug "$bin" "$work/sinkhole-nodebug"
    for name in nginx sinkhole; do
        port=$(port_of "$name")
        mkdir -p "$work/cg-$name"
        started=$SECONDS
        # Start-up runs without instrumentation (switched on by PID once the server is idle).
        start_server "$name" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg-$name/$name.%p"
        wait_ready "$name" 600
        wait_quiet "$name" 600
        echo "callgrind $name: idle $(( SECONDS - started )) s after its start"
        callgrind_control --instr=on "$server_pid" >> "$work/callgrind_control.log" 2>&1
        callgrind_control --zero "$server_pid" >> "$work/callgrind_control.log" 2>&1
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
            timeout 1800 python3 "$here/closeclient.py" "$port" "$n" \
                || { echo "closeclient failed against $name under callgrind" >&2; exit 1; }
            sent_total=$(( sent_total + n ))
            for (( i = 0; i < 600; i++ )); do
                counted=$(logged_events "$name")
                [ "$counted" = "$sent_total" ] && break
                sleep 0.5
            done
            [ "$counted" = "$sent_total" ] || echo "  $name logged $counted of $sent_total requests at this dump (waited 300 s)"
            cg_dump
            ir[$n]=$ir_dump
            seconds[$n]=$(awk -v t0="$phase_start" -v t1="$EPOCHREALTIME" 'BEGIN { print t1 - t0 }')
            awk -v s="$name" -v n="$n" -v ir="$ir_dump" -v t0="$phase_start" -v t1="$EPOCHREALTIME" -v f="$ir_file" \
                'BEGIN { printf "callgrind %s: %d requests in %.1f s, Ir %.0f (%s)\n", s, n, t1 - t0, ir, f }'
        done
        ipr[$name]=$(awk -v a="${ir[$cg_n1]}" -v b="${ir[$cg_n2]}" -v n1="$cg_n1" -v n2="$cg_n2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
        idle_share=$(awk -v r="$idle_rate" -v a="${seconds[$cg_n1]}" -v b="${seconds[$cg_n2]}" -v n1="$cg_n1" -v n2="$cg_n2" \
            'BEGIN { printf "%.0f", r * (b - a) / (n2 - n1) }')
        unset ir seconds
        status=0
        stop_pid "$server_pid" 600 || status=$?
        # Exact here: closeclient reads every answer before the next request.
        check_logged "$name" "$status" "$sent_total" 0 "under callgrind"
        if [ -n "${CALLGRIND_OUT:-}" ]; then mkdir -p "$CALLGRIND_OUT" && cp "$work/cg-$name/"* "$CALLGRIND_OUT/"; fi
        echo "callgrind $name: ${ipr[$name]} instructions/request, of which at most $idle_share the idle rate over the" \
             "longer phase's extra seconds ($(( SECONDS - started )) s under valgrind)"
    done
fi

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| server | keep-alive 64 conns, req/s (median) | keep-alive 256 conns, req/s | Connection: close, req/s | instructions/request (close) |"
echo "| --- | ---: | ---: | ---: | ---: |"
declare -A med
for name in "${servers[@]}"; do
    for mode in "${modes[@]}"; do
        med[$name-$mode]=$(awk -v s="$name" -v m="$mode" '$1 == s && $2 == m { print $4 }' "$work/results" | median)
    done
    printf '| %s | %.0f | %.0f | %.0f | %s |\n' "$(label_of "$name")" "${med[$name-keepalive64]}" \
        "${med[$name-keepalive256]}" "${med[$name-close]}" "${ipr[$name]:-not run}"
done
echo
awk -v a="${med[sinkhole-keepalive64]}" -v b="${med[nginx-keepalive64]}" -v c="${med[sinkhole-keepalive256]}" \
    -v d="${med[nginx-keepalive256]}" -v e="${med[sinkhole-close]}" -v f="${med[nginx-close]}" \
    -v si="${ipr[sinkhole]:-}" -v ni="${ipr[nginx]:-}" 'BEGIN {
    printf "sinkhole / nginx: keep-alive 64 %.2f×, keep-alive 256 %.2f×, Connection: close %.2f×", a / b, c / d, e / f
    if (si != "" && ni != "") printf ", instructions/request %.2f×", si / ni
    printf "\n" }'
echo
args=""; [ "$quick" = 1 ] && args=" --quick"
echo "reproduce: DURATION=$duration ROUNDS=$rounds CLOSE_CONNS=$close_conns CG_N1=$cg_n1 CG_N2=$cg_n2" \
     "CALLGRIND=$callgrind $here/run.sh$args   (or: make bench-http)"
if [ "$store_failures" -gt 0 ]; then
    echo "store check: FAIL ($store_failures sinkhole run(s) did not store what wrk completed)"
    exit 1
fi
echo "store check: PASS (every sinkhole run stored every request wrk completed)"
