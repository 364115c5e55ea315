# Process control and statistics shared by the benchmark scripts (sourced, not run).
#
# The sourcing script keeps `pids` (an array: started, not yet reaped), `server_pid` (the
# server being measured) and `work` (its temp dir, with NAME.log per server). Every process a
# script started, and whatever it forked, is stopped by PID: SIGTERM, a bounded wait, SIGKILL.

descendants() {  # pid -> its descendants' pids, deepest last
    local child
    for child in $(pgrep -P "$1" || true); do echo "$child"; descendants "$child"; done
}

stop_pid() {  # pid seconds -> exit status of pid (when it was our child)
    local pid=$1 tenths=$(( $2 * 10 )) tree i
    tree=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < tenths; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "  pid $pid still running $2 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" $tree 2>/dev/null || true
    fi
    for (( i = 0; i < 50; i++ )); do
        local alive=0 p
        for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    [ "$alive" = 0 ] || kill -KILL $tree 2>/dev/null || true
    local status=0 keep=() p
    wait "$pid" 2>/dev/null || status=$?
    # Reaped: its PID may now be reused by anyone, so cleanup must forget it.
    for p in "${pids[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    pids=("${keep[@]}")
    return "$status"
}

# CPU time (clock ticks) used so far by a process and every process it forked.
cpu_ticks() {
    local p total=0 t
    for p in "$1" $(descendants "$1"); do
        t=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$(( total + t ))
    done
    echo "$total"
}

# Answering is not the same as done starting (Knot loads zones in the background after the
# first ones answer; under valgrind start-up goes on after the first answer). Quiet = at most
# 5% of a core for 3 seconds in a row.
wait_quiet() {  # name seconds
    local deadline=$(( SECONDS + $2 )) quiet=0 before after
    before=$(cpu_ticks "$server_pid")
    while (( SECONDS < deadline )); do
        sleep 1
        after=$(cpu_ticks "$server_pid")
        if (( after - before <= $(getconf CLK_TCK) / 20 )); then quiet=$(( quiet + 1 )); else quiet=0; fi
        (( quiet >= 3 )) && return 0
        before=$after
    done
    echo "$1 still busy $2 s after it answered:" >&2; tail -20 "$work/$1.log" >&2; exit 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
