#!/usr/bin/env bash
# The capture engine's speed against tcpdump, in the same run:
# - live: two network namespaces of the script's own joined by a veth pair (traffic stays
#   inside them); the receive processing of the capturing end (vs) is steered to the capture's
#   core by RPS (rps_cpus), so the capture pays for the kernel's receive path as on a real host
#   and does not get it done for free on the sender's core. tcpreplay, pinned to the other
#   core, replays a generated pcap (PACKETS frames: TCP SYNs from a Zipf-skewed bot population
#   and DNS queries, all to the TEST-NET sinkhole address 198.51.100.7) at --topspeed, then at
#   fixed rates, highest first, until a rate loses nothing (FRACTIONS of the median top speed,
#   one ladder for every capturer, or RATES packets/s). For each capturer, the highest lossless
#   rate: for the sinkhole (`sinkhole run` with capture.interface, its
#   default 64 MiB buffer or BUFFER_MB, the whole process pinned to the capture core) no kernel drop, no
#   ring drop and every packet a stored event (the store's `runs` row: offered == stored ==
#   packets sent); for `tcpdump -w /dev/null` with libpcap's default buffer (2 MiB) and with
#   -B 131072 (128 MiB), pinned to the same core, no kernel drop.
# - replay: packets/s of `sinkhole replay FILE` (into a fresh store, every event stored)
#   against `tcpdump -r FILE -w /dev/null`, both pinned to the capture core, ROUNDS rounds
#   interleaved, medians.
# Every process is stopped by PID; the namespaces are deleted on exit.
#
# Usage: Benchmarks/capture/run.sh [--quick]   (root; installs what is missing, builds the sinkhole)
#   PACKETS=1000000 FRACTIONS="0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.1" ROUNDS=3 RING_MB=2048 BUFFER_MB=64
#   CAPTURE_CPU=0 SENDER_CPU=1                  environment overrides (defaults shown);
#   SINKHOLE_BIN=PATH                           a sinkhole binary built elsewhere (no build);
#   RATES="400000 200000"                       fixed rates in packets/s instead of FRACTIONS
#   --quick: PACKETS=200000 FRACTIONS="0.75 0.5 0.25" ROUNDS=1
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/capture
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) sed -n '2,/^set -euo/s/^# \{0,1\}//p' "$here/run.sh"; exit 2 ;;
esac
rates=${RATES:-}
if [ "$quick" = 1 ]; then
    packets=${PACKETS:-200000}; fractions=${FRACTIONS:-"0.75 0.5 0.25"}; rounds=${ROUNDS:-1}
else
    packets=${PACKETS:-1000000}; fractions=${FRACTIONS:-"0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.1"}; rounds=${ROUNDS:-3}
fi
# The ring holds what the writer has not stored yet: a burst of PACKETS events at the sender's
# top speed is over before the writer has stored a fraction of it. The budget is split evenly
# between the run's producers (event loops, DNS UDP workers, the capture thread).
ring_mb=${RING_MB:-2048}
# The sinkhole's kernel capture buffer (capture.buffer_mb). In immediate mode libpcap's ring is
# made of frames of snaplen + ~80 bytes, so this is what decides how large a burst the kernel
# holds while the capture thread is busy.
buffer_mb=${BUFFER_MB:-64}
capture_cpu=${CAPTURE_CPU:-0}
sender_cpu=${SENDER_CPU:-1}
[ "$(id -u)" = 0 ] || { echo "run.sh creates network namespaces: run it as root" >&2; exit 2; }

. Benchmarks/lib/setup.sh
install_missing "tcpreplay tcpdump iproute2 util-linux sqlite3 python3 procps"

if [ -n "${SINKHOLE_BIN:-}" ]; then
    bin=$SINKHOLE_BIN
else
    build_release_sinkhole
fi
work=$(mktemp -d)
pids=()
ns_sinkhole=capbench-$$-sinkhole
ns_sender=capbench-$$-sender

# descendants, stop_pid, median: stop every process by PID.
. Benchmarks/lib/processes.sh
cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid" 10 || true; done
    ip netns del "$ns_sinkhole" 2>/dev/null || true
    ip netns del "$ns_sender" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "generating $packets packets" >&2
pcap=$work/bots.pcap
python3 "$here/generate.py" "$pcap" "$packets" > /dev/null
echo evil.example > "$work/seized.txt"

# The veth pair: vg in the sender's namespace, vs (the capturing end, holding the sinkhole
# address) in the sinkhole's. Fixed MACs: the generated frames are addressed to vs. No route
# back to the bots: the kernel's receive path runs for every SYN and datagram, its answers go
# nowhere (they would load the capture core with the sender's receive path too).
ip netns add "$ns_sinkhole"
ip netns add "$ns_sender"
ip -n "$ns_sender" link add vg type veth peer name vs netns "$ns_sinkhole"
ip -n "$ns_sender" link set vg address 02:00:00:00:00:01 up
ip -n "$ns_sinkhole" link set vs address 02:00:00:00:00:02 up
ip -n "$ns_sinkhole" link set lo up
ip -n "$ns_sinkhole" addr add 198.51.100.7/24 dev vs
# RPS: vs's receive processing (netif_rx's backlog, then the packet taps and IP) on the capture
# core, whichever core sent the frame.
ip netns exec "$ns_sinkhole" sh -c "printf '%x' $(( 1 << capture_cpu )) > /sys/class/net/vs/queues/rx-0/rps_cpus"
echo "rps_cpus of vs: $(ip netns exec "$ns_sinkhole" cat /sys/class/net/vs/queues/rx-0/rps_cpus)" >&2

# wait_log FILE TEXT SECONDS: until FILE contains TEXT (bounded); fails if the server exited.
wait_log() {
    local deadline=$(( SECONDS + $3 ))
    while (( SECONDS < deadline )); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || { echo "exited before '$2':" >&2; tail -20 "$1" >&2; exit 1; }
        sleep 0.1
    done
    echo "no '$2' after $3 s:" >&2; tail -20 "$1" >&2; exit 1
}

store_seq=0
# live CAPTURER RATE: one line "sent_packets rated_pps kernel_drops lossless(0|1) detail" in
# $work/result (not printed: run in a subshell, the capturer's PID would escape cleanup)
# CAPTURER: sinkhole, tcpdump (default buffer), tcpdump128 (-B 131072); RATE: top or packets/s.
live() {
    local capturer=$1 rate=$2 log=$work/$1.log speed sent rated drops ok detail
    case $capturer in
        sinkhole)
            store=$work/live-$(( ++store_seq )).db
            sed -e "s|@WORK@|$work|g" -e "s|@INTERFACE@|vs|g" -e "s|@STORE@|$store|g" -e "s|@RING_MB@|$ring_mb|g" \
                -e "s|@BUFFER_MB@|$buffer_mb|g" "$here/sinkhole.yaml.in" > "$work/sinkhole.yaml"
            ip netns exec "$ns_sinkhole" taskset -c "$capture_cpu" "$bin" run --config "$work/sinkhole.yaml" > "$log" 2>&1 &
            server_pid=$!; pids+=("$server_pid")
            wait_log "$log" "sinkhole ready" 60 ;;
        tcpdump|tcpdump128)
            local buffer=()
            [ "$capturer" = tcpdump128 ] && buffer=(-B 131072)
            ip netns exec "$ns_sinkhole" taskset -c "$capture_cpu" tcpdump -i vs -p -n "${buffer[@]}" -w /dev/null \
                dst host 198.51.100.7 > "$log" 2>&1 &
            server_pid=$!; pids+=("$server_pid")
            wait_log "$log" "listening on" 30 ;;
    esac
    if [ "$rate" = top ]; then speed=(--topspeed); else speed=(--pps="$rate"); fi
    ip netns exec "$ns_sender" taskset -c "$sender_cpu" tcpreplay -K -i vg "${speed[@]}" "$pcap" > "$work/tcpreplay.log" 2>&1
    sent=$(awk '/Successful packets:/ { print $3 }' "$work/tcpreplay.log")
    rated=$(grep -oE '[0-9.]+ pps' "$work/tcpreplay.log" | head -1 | awk '{ printf "%.0f", $1 }')
    # Let the capture read what the kernel still holds before it is stopped.
    sleep 2
    stop_pid "$server_pid" 300 || true
    case $capturer in
        sinkhole)
            local last received ring offered stored dropped
            last=$(grep -E 'capture (finished|dropped packets|stopped)' "$log" | tail -1)
            drops=$(( $(grep -oE 'pcap.dropped_by_kernel=[0-9]+' <<< "$last" | cut -d= -f2) + $(grep -oE 'pcap.dropped_by_interface=[0-9]+' <<< "$last" | cut -d= -f2) ))
            received=$(grep -oE 'pcap.received=[0-9]+' <<< "$last" | cut -d= -f2)
            ring=$(grep -oE 'capture.ring_dropped=[0-9]+' <<< "$last" | cut -d= -f2)
            read -r offered stored dropped < <(sqlite3 -separator ' ' "$store" "SELECT offered, stored, dropped FROM runs")
            ok=0
            [ "$drops" = 0 ] && [ "$ring" = 0 ] && [ "$offered" = "$sent" ] && [ "$stored" = "$sent" ] && ok=1
            detail="received $received, ring dropped $ring, store offered $offered, stored $stored, dropped $dropped"
            rm -f "$store" "$store"-* ;;
        *)
            drops=$(awk '/packets dropped by kernel/ { print $1 }' "$log")
            ok=0; [ "$drops" = 0 ] && ok=1
            detail="$(awk '/packets received by filter/ { print "received", $1 }' "$log")" ;;
    esac
    echo "$sent $rated $drops $ok $detail" > "$work/result"
}

label() {
    case $1 in
        sinkhole) echo "sinkhole $(git describe --always --dirty 2>/dev/null || echo '?') ($buffer_mb MiB buffer, every event stored)" ;;
        tcpdump) echo "tcpdump $(tcpdump --version 2>&1 | awk 'NR == 1 { print $3 }') -w /dev/null, default buffer (2 MiB)" ;;
        tcpdump128) echo "tcpdump -w /dev/null -B 131072 (128 MiB)" ;;
    esac
}

# Every capturer at the sender's top speed first; then the lossy ones down one ladder of fixed
# rates (RATES, or FRACTIONS of the median top speed: the sender's top speed depends on the
# machine and its load), highest first, until one loses nothing.
declare -A best best_rate
capturers="sinkhole tcpdump tcpdump128"
run_live() {  # capturer rate: one run, logged, appended to $work/live; returns 0 when lossless
    live "$1" "$2"
    read -r sent rated drops ok detail < "$work/result"
    printf 'live %-10s %-7s: sent %d at %s pps, kernel drops %s, %s: %s\n' "$1" "$2" "$sent" "$rated" "$drops" \
        "$([ "$ok" = 1 ] && echo lossless || echo LOST)" "$detail" >&2
    echo "$1 $2 $sent $rated $drops $ok" >> "$work/live"
    if [ "$ok" = 1 ]; then best[$1]=$2; best_rate[$1]=$rated; return 0; fi
    return 1
}
for capturer in $capturers; do
    best[$capturer]=none; best_rate[$capturer]=0
    run_live "$capturer" top || true
done
top_rate=$(awk '$2 == "top" { print $4 }' "$work/live" | median)
[ -n "$rates" ] || rates=$(for f in $fractions; do awk -v t="$top_rate" -v f="$f" 'BEGIN { printf "%d ", t * f / 1000 * 1000 }'; done)
echo "fixed rates: $rates" >&2
for capturer in $capturers; do
    [ "${best[$capturer]}" = none ] || continue
    for rate in $rates; do run_live "$capturer" "$rate" && break; done
done

# Replay: the same file read by each, interleaved, ROUNDS rounds.
sed -e "s|@WORK@|$work|g" -e "s|@STORE@|$work/replay.db|g" -e "s|@RING_MB@|256|g" -e '/^capture:/,+2d' \
    "$here/sinkhole.yaml.in" > "$work/replay.yaml"
# The capture section is cut by line count: a key added to it must be cut too.
! grep -v '^#' "$work/replay.yaml" | grep -q '@\|buffer_mb\|interface' || { echo "replay.yaml kept part of the capture section:" >&2; cat "$work/replay.yaml" >&2; exit 1; }
for (( round = 1; round <= rounds; round++ )); do
    for reader in sinkhole tcpdump; do
        rm -f "$work/replay.db" "$work/replay.db"-*
        start=$EPOCHREALTIME
        case $reader in
            sinkhole) taskset -c "$capture_cpu" "$bin" replay --config "$work/replay.yaml" "$pcap" > "$work/replay.out" 2> "$work/replay.err" ;;
            tcpdump) taskset -c "$capture_cpu" tcpdump -r "$pcap" -w /dev/null > "$work/replay.out" 2> "$work/replay.err" ;;
        esac
        pps=$(awk -v t0="$start" -v t1="$EPOCHREALTIME" -v n="$packets" 'BEGIN { printf "%.0f", n / (t1 - t0) }')
        if [ "$reader" = sinkhole ]; then
            stored=$(sqlite3 "$work/replay.db" "SELECT stored FROM runs")
            [ "$stored" = "$packets" ] || { echo "replay stored $stored of $packets events:" >&2; cat "$work/replay.out" "$work/replay.err" >&2; exit 1; }
        fi
        printf 'replay round %d %-8s: %10.0f packets/s\n' "$round" "$reader" "$pps" >&2
        echo "$reader $pps" >> "$work/replay"
    done
done

echo "Live capture on a veth pair, receive processing steered (RPS) to the capture's core $capture_cpu, tcpreplay -K on core $sender_cpu; $packets packets (60% TCP SYNs from 20,000 bots, 40% DNS queries), tcpreplay's top speed $top_rate packets/s (median of the runs)."
echo
echo "| capturer | highest lossless rate tried | packets/s at it | ÷ tcpdump default buffer | ÷ tcpdump 128 MiB |"
echo "| --- | --- | ---: | ---: | ---: |"
for capturer in $capturers; do
    awk -v l="$(label "$capturer")" -v b="${best[$capturer]}" -v r="${best_rate[$capturer]}" -v d="${best_rate[tcpdump]}" -v h="${best_rate[tcpdump128]}" \
        'BEGIN { printf "| %s | %s | %d | %s | %s |\n", l, (b == "top" ? "--topspeed" : (b == "none" ? "none" : "--pps " b)), r,
                 (d > 0 ? sprintf("%.2f×", r / d) : "n/a"), (h > 0 ? sprintf("%.2f×", r / h) : "n/a") }'
done
echo
sinkhole_replay=$(awk '$1 == "sinkhole" { print $2 }' "$work/replay" | median)
tcpdump_replay=$(awk '$1 == "tcpdump" { print $2 }' "$work/replay" | median)
echo "| reading $packets packets from a file (median of $rounds) | packets/s | ÷ tcpdump |"
echo "| --- | ---: | ---: |"
printf '| sinkhole replay (every event stored) | %.0f | %.2f× |\n' "$sinkhole_replay" "$(awk -v a="$sinkhole_replay" -v b="$tcpdump_replay" 'BEGIN { print a / b }')"
printf '| tcpdump -r FILE -w /dev/null (anchor) | %.0f | 1.00× |\n' "$tcpdump_replay"
echo
if [ "${best[sinkhole]}" = top ]; then
    echo "- live target (lossless at the generator's top speed, every event stored): met"
else
    echo "- live target (lossless at the generator's top speed, every event stored): missed (highest lossless: ${best[sinkhole]})"
fi
awk -v a="$sinkhole_replay" -v b="$tcpdump_replay" 'BEGIN { printf "- replay target (≥ 1.0× tcpdump'\''s read rate): %s (%.2f×)\n", (a >= b ? "met" : "missed"), a / b }'
