#!/usr/bin/env bash
# The hardened units of systemd/ under a real systemd: boots Debian 12 in a systemd-nspawn
# container (this host's PID 1 is not systemd), installs the sinkhole there as an operator
# would (binary in /usr/local/bin, units, sysusers.d, tmpfiles.d, /etc/sinkhole), starts
# sinkhole.service unchanged (Type=notify: READY=1, STATUS=, the watchdog's pings and the
# journal priorities of its log lines are checked too) and drives every feature the hardening
# could break: DNS on 53 (CAP_NET_BIND_SERVICE), HTTP on 80, TLS on 443, the catch-all on its
# own port and behind Deploy/nftables.conf (tproxy: CAP_NET_RAW), live capture on lo
# (CAP_NET_RAW, AF_PACKET), the SQLite store, the feed API, reload, `sinkhole stats`, the
# export service and timer, a restart after SIGKILL, socket activation through sinkhole.socket,
# a root start that drops to `user:` itself, and a PostgreSQL store on a unix socket; checks
# that the process runs unprivileged with only those two capabilities, and what
# `systemd-analyze security` makes of the running unit. A hardening line that breaks a
# feature fails a check here.
#
#   Tests/Systemd/boot-test.sh [SINKHOLE_BINARY]   (root; `make test-systemd` builds and runs it)
#   BOOT_TEST_KEEP=1 Tests/Systemd/boot-test.sh    keeps the container up afterwards, to look into
#
# The root file system (debootstrap: about a minute cold, 330 MB) is cached in .build/nspawn
# and rebuilt only when missing or when ROOTFS_PACKAGES changes; each run boots a throwaway
# overlay of it, so the cache stays clean. The container has a private network (its own
# loopback, and a veth pair to a namespace inside it): every packet of the test stays inside.
# Everything the run creates is removed on exit, the container stopped by its nspawn's PID.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$repo/.build/release/sinkhole}
cache=$repo/.build/nspawn
rootfs=$cache/bookworm-rootfs
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the daemon links (libpcap, libsqlite3; the Swift runtime is linked in statically), what
# the unit runs (/bin/kill, from procps: every Debian install has it but debootstrap's minbase)
# the checks run inside the container (dig, curl, sqlite3, nc, ip, nft, systemd-analyze), and
# PostgreSQL, whose packaged cluster the second run stores into over its unix socket.
ROOTFS_PACKAGES="systemd dbus procps iproute2 nftables dnsutils curl sqlite3 libpcap0.8 libsqlite3-0 netcat-openbsd postgresql"
# Addresses on the container's loopback: the sinkhole's own and a seized C&C address.
SINKHOLE_IP=198.51.100.10
SINKHOLE_IP6=2001:db8::10
SEIZED_IP=198.51.100.7
# A bot in a network namespace inside the container, on a veth pair to it.
BOT_IP=203.0.113.66
GATEWAY_IP=203.0.113.1

if [ "$(id -u)" != 0 ]; then
    echo "boot-test: skipped, needs root (systemd-nspawn, mounts); CI runs as root"
    exit 0
fi
[ -x "$binary" ] || { echo "boot-test: no sinkhole binary at $binary (make test-systemd builds it)"; exit 1; }

# systemd-nspawn comes in systemd-container, which requires the host's systemd at the same
# version: pinned to the installed one when the archive still has it, so installing the tool
# does not upgrade the host's systemd.
install_tools() {
    local systemd_version container=systemd-container
    dpkg-query -W -f='${Status}' systemd-container 2>/dev/null | grep -q "install ok installed" &&
        dpkg-query -W -f='${Status}' debootstrap 2>/dev/null | grep -q "install ok installed" && return 0
    systemd_version=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)
    if [ -n "$systemd_version" ] && apt-cache madison systemd-container | grep -qF " $systemd_version "; then
        container="systemd-container=$systemd_version"
    fi
    echo "Installing debootstrap and $container"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap "$container" >/dev/null
}

# The cached root file system: built in a scratch directory and renamed, so an interrupted
# debootstrap never leaves a half root behind that later runs would take as the cache.
build_rootfs() {
    if [ -f "$rootfs/.sinkhole-packages" ] && [ "$(cat "$rootfs/.sinkhole-packages")" = "$ROOTFS_PACKAGES" ]; then
        return 0
    fi
    local scratch=$cache/bookworm-rootfs.tmp start=$SECONDS
    rm -rf "$scratch" "$rootfs"
    mkdir -p "$cache"
    echo "boot-test: building the Debian 12 root file system in $rootfs (cached)"
    debootstrap --variant=minbase --include="${ROOTFS_PACKAGES// /,}" bookworm "$scratch" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
        { tail -20 "$cache/debootstrap.log"; echo "boot-test: debootstrap failed (log: $cache/debootstrap.log)"; exit 1; }
    # No getty on the console: nspawn's output is the boot log, nothing waits for a login.
    ln -sf /dev/null "$scratch/etc/systemd/system/console-getty.service"
    # apt's timers would start downloads in a container that has no network.
    ln -sf /dev/null "$scratch/etc/systemd/system/apt-daily.timer"
    ln -sf /dev/null "$scratch/etc/systemd/system/apt-daily-upgrade.timer"
    echo "$ROOTFS_PACKAGES" > "$scratch/.sinkhole-packages"
    mv "$scratch" "$rootfs"
    echo "boot-test: root file system built in $((SECONDS - start)) s"
}

install_tools
build_rootfs

run=$(mktemp -d "$cache/run.XXXXXX")
machine=sinkhole-test-$$
root=$run/root
nspawn_pid=""
failures=0

cleanup() {
    local status=$?
    # BOOT_TEST_KEEP=1: the container stays up (at most 30 minutes) to be looked into.
    if [ -n "${BOOT_TEST_KEEP:-}" ] && [ -n "${leader:-}" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        echo "boot-test: container kept: nsenter --target $leader --mount --uts --ipc --net --pid --cgroup --root --wdns=/ bash;"
        echo "           end it with: kill $nspawn_pid"
        for _ in $(seq 1 1800); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
    fi
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM makes nspawn ask the container's systemd to power off; bounded, then killed.
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    mountpoint -q "$root" && umount "$root"
    rm -rf "$run"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A per-run overlay: the container writes into $run/upper, never into the cache. Where the
# overlay cannot be mounted (.build on an overlayfs itself), a copy (about 330 MB).
mkdir -p "$run/upper" "$run/work" "$root"
if ! mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$run/upper,workdir=$run/work" "$root" 2>/dev/null; then
    echo "boot-test: no overlay mount here, booting a copy of the root file system"
    cp -a --reflink=auto "$rootfs/." "$root/"
fi

# --register=no and --keep-unit: no systemd on the host to register a machine or a scope with.
systemd-nspawn --quiet --directory="$root" --machine="$machine" --boot --private-network \
    --register=no --keep-unit > "$run/console.log" 2>&1 < /dev/null &
nspawn_pid=$!

# The container's PID 1: nspawn's child that is PID 1 of a new PID namespace.
leader=""
for _ in $(seq 1 200); do
    for child in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
        if awk '/^NSpid:/ { exit !($NF == 1 && NF == 3) }' /proc/"$child"/status 2>/dev/null; then leader=$child; fi
    done
    [ -n "$leader" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$leader" ]; then
    cat "$run/console.log"; echo "boot-test: the container did not start"; exit 1
fi

# A command inside the container: its namespaces and root, a clean environment.
in_container() {
    nsenter --target "$leader" --mount --uts --ipc --net --pid --cgroup --root --wdns=/ -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '     %s\n' "$@"; failures=$((failures + 1)); }
# check "what" command...: passes when the command succeeds.
check() { local what=$1 out; shift; if out=$("$@" 2>&1); then pass "$what"; else fail "$what" "$out"; fi; }

boot_start=$SECONDS
# Until PID 1 has its private socket, systemctl cannot connect; then it waits for the boot.
state=""
while [ $((SECONDS - boot_start)) -lt 120 ]; do
    state=$(in_container timeout 120 systemctl is-system-running --wait 2>&1 || true)
    # "offline": /run/systemd/system is not there yet, PID 1 has just started.
    case "$state" in *"Failed to connect"*|offline) sleep 0.2 ;; *) break ;; esac
done
# "degraded" is a unit of the minimal Debian failing, listed below; the test needs only PID 1.
case "$state" in
    running|degraded) echo "boot-test: container booted ($state) in $((SECONDS - boot_start)) s" ;;
    *) cat "$run/console.log"; echo "boot-test: the container's systemd did not finish booting: $state"; exit 1 ;;
esac
[ "$state" = degraded ] && in_container systemctl --failed --no-legend --plain

# --- Install, as Deploy/install.sh does on a running host -------------------------------
install -D -m 0755 "$binary" "$root/usr/local/bin/sinkhole"
# A binary built without --static-swift-stdlib (a debug build) loads the Swift runtime from the
# toolchain: copied to the same path. System libraries come from the root file system's
# packages only, so a library missing from ROOTFS_PACKAGES fails the start here as on a host.
for library in $(ldd "$binary" | awk '$3 ~ /^\// { print $3 }'); do
    case $library in /lib/*|/usr/lib/*) continue ;; esac
    install -D -m 0644 "$library" "$root$library"
done
for unit in sinkhole.service sinkhole.socket sinkhole-export.service sinkhole-export.timer; do
    install -D -m 0644 "$repo/systemd/$unit" "$root/etc/systemd/system/$unit"
done
install -D -m 0644 "$repo/systemd/sysusers.d/sinkhole.conf" "$root/usr/lib/sysusers.d/sinkhole.conf"
install -D -m 0644 "$repo/systemd/tmpfiles.d/sinkhole.conf" "$root/usr/lib/tmpfiles.d/sinkhole.conf"

# The container's PID 1 cannot raise RLIMIT_NOFILE above the hard limit it was started with
# (this host gives no process CAP_SYS_RESOURCE); on such a host LimitNOFILE=65536 would fail the
# start for a reason no real host has, so it is lowered to that limit, and said so.
hard_nofile=$(in_container sh -c 'ulimit -Hn')
if [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt 65536 ]; then
    echo "boot-test: the container's hard RLIMIT_NOFILE is $hard_nofile: LimitNOFILE=$hard_nofile in a drop-in"
    printf '[Service]\nLimitNOFILE=%s\n' "$hard_nofile" |
        install -D -m 0644 /dev/stdin "$root/etc/systemd/system/sinkhole.service.d/host-nofile.conf"
fi

install -D -m 0644 "$repo/Deploy/nftables.conf" "$root/etc/nftables.d/sinkhole.nft"
install -d -m 0755 "$root/etc/sinkhole/families"
printf 'cc.botnet.example\n' > "$root/etc/sinkhole/families/example.txt"
# The feed API's ISP owns the container's loopback sources; its token is "boot-test-token".
token_sha256=$(printf %s boot-test-token | sha256sum | cut -d' ' -f1)
cat > "$root/etc/sinkhole/isps.yaml" <<EOF
- name: test-isp
  asns: [64497]
  cidrs: ["198.51.100.0/24", "127.0.0.0/8"]
  abuse: abuse@test-isp.example
  token_sha256: "$token_sha256"
  formats: [shadowserver, jsonl]
EOF
printf '198.51.100.0\t24\t64497\n' > "$root/etc/sinkhole/pfx2as.txt"
# The default ports, privileged on purpose: binding them is what CAP_NET_BIND_SERVICE is for.
cat > "$root/etc/sinkhole/sinkhole.yaml" <<EOF
node: boot-test
sinkhole_addresses: [$SINKHOLE_IP, "$SINKHOLE_IP6"]
families:
  - name: example
    domains: [families/example.txt]
    addresses: [$SEIZED_IP]
dns:
  listen: ["0.0.0.0:53", "[::]:53"]
  nameservers: [ns1.sinkhole.example]
http:
  listen: ["0.0.0.0:80"]
  tls_listen: ["0.0.0.0:443"]
# 10000: the catch-all ports Deploy/nftables.conf ships with, so it is loaded unchanged.
catch_all:
  tcp: ["0.0.0.0:10000"]
  udp: ["0.0.0.0:10000"]
  idle_timeout_s: 2
capture:
  interface: lo
  buffer_mb: 4
ring: {memory_mb: 16}
writer: {batch_size: 64, flush_interval_ms: 200}
feeds:
  asn_map: pfx2as.txt
  isps: isps.yaml
  export_dir: /var/lib/sinkhole/feeds
  listen: "127.0.0.1:8444"
EOF
chmod -R go-w "$root/etc/sinkhole"

in_container ip address add "$SINKHOLE_IP/32" dev lo
in_container ip address add "$SEIZED_IP/32" dev lo
in_container ip address add "$SINKHOLE_IP6/128" dev lo

check "systemd-sysusers creates the sinkhole user" in_container sh -c 'systemd-sysusers && id sinkhole'
check "systemd-tmpfiles creates /var/lib/sinkhole/feeds" in_container sh -c \
    'systemd-tmpfiles --create /usr/lib/tmpfiles.d/sinkhole.conf && test "$(stat -c %U:%a /var/lib/sinkhole/feeds)" = sinkhole:750'
in_container systemctl daemon-reload

# --- Start ------------------------------------------------------------------------------
journal() { in_container journalctl --no-pager -o cat -u sinkhole.service; }
# start_ready WHAT: systemctl start, then (bounded) until the daemon says "sinkhole ready" once
# more than before (active is not enough: every listener bound, capture open); exits on failure.
start_ready() {
    local before ready=""
    before=$(journal | grep -c "sinkhole ready" || true)
    # This test starts the unit more often than StartLimitBurst allows in StartLimitIntervalSec
    # (5 in 10 s); a host does not.
    in_container systemctl reset-failed sinkhole.service 2>/dev/null || true
    if ! in_container timeout 90 systemctl start sinkhole.service; then
        fail "$1" "$(in_container systemctl status --no-pager sinkhole.service)" "$(journal | tail -30)"
        exit 1
    fi
    for _ in $(seq 1 300); do
        [ "$(journal | grep -c "sinkhole ready" || true)" -gt "$before" ] && { ready=1; break; }
        in_container systemctl is-active --quiet sinkhole.service || break
        sleep 0.1
    done
    local substate
    substate=$(in_container systemctl show -P SubState sinkhole.service)
    if [ -n "$ready" ] && [ "$substate" = running ]; then
        pass "$1"
    else
        fail "$1" "SubState=$substate" "$(journal | tail -30)"
        exit 1
    fi
}
start_ready "systemctl start sinkhole: active (running) and ready"
started_at=$SECONDS
# systemd stamps the watchdog when the service becomes ready; each WATCHDOG=1 restamps it.
watchdog_at_start=$(in_container systemctl show -P WatchdogTimestampMonotonic sinkhole.service)
# Type=notify: the start returned once READY=1 came; the status line is the daemon's.
status_text=$(in_container systemctl show -P StatusText sinkhole.service)
if [ -n "$status_text" ]; then pass "the unit's status is the daemon's STATUS= line: $status_text"; else fail "the unit's status is the daemon's STATUS= line" "(empty)"; fi

# --- Features -----------------------------------------------------------------------------
dig_a() { in_container dig +short +time=2 +tries=2 "@$1" -p 53 "$2" "${3:-A}"; }
expect_eq() { local what=$1 want=$2 got=$3; if [ "$got" = "$want" ]; then pass "$what"; else fail "$what" "want: $want" "got:  $got"; fi; }

expect_eq "DNS over UDP on $SINKHOLE_IP:53 answers the seized name" "$SINKHOLE_IP" "$(dig_a "$SINKHOLE_IP" cc.botnet.example 2>&1)"
expect_eq "DNS over UDP on [$SINKHOLE_IP6]:53 answers the seized name" "$SINKHOLE_IP" "$(dig_a "$SINKHOLE_IP6" cc.botnet.example 2>&1)"
expect_eq "DNS over TCP on $SINKHOLE_IP:53 answers the seized name" "$SINKHOLE_IP" \
    "$(in_container dig +short +tcp +time=2 +tries=2 "@$SINKHOLE_IP" cc.botnet.example 2>&1)"
expect_eq "HTTP on port 80 answers 200" 200 "$(in_container curl -sS -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:80:$SEIZED_IP" http://cc.botnet.example/gate.php?id=1 2>&1)"
expect_eq "TLS on port 443 answers 200" 200 "$(in_container curl -sS -k -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:443:$SEIZED_IP" https://cc.botnet.example/gate.php?id=2 2>&1)"
check "the catch-all takes a TCP connection on 10000" in_container sh -c "printf 'SSH-2.0-boot-test\r\n' | nc -N -w 3 $SEIZED_IP 10000"
check "the catch-all takes a UDP datagram on 10000" in_container sh -c "printf 'udp-boot-test' | nc -u -w 1 $SEIZED_IP 10000"
# Nothing listens on 4444 and the ruleset is not loaded yet: only the capture sees this datagram.
check "a UDP datagram to an unserved port is sent" in_container sh -c "printf 'packet-boot-test' | nc -u -w 1 $SEIZED_IP 4444"

# --- Every port, through Deploy/nftables.conf, from a bot's namespace ---------------------
# The bot's packets arrive on an interface, as on a real host, so they go through prerouting,
# where the shipped ruleset sends the ports nobody serves to the catch-all: TCP by redirect
# (read back with SO_ORIGINAL_DST), UDP by tproxy (only to a transparent socket: CAP_NET_RAW).
# The namespace lives inside the container's and goes with it.
check "the bot's namespace, the ruleset and the tproxy routes are set up" in_container sh -ec "
    ip netns add bot
    ip link add sinkhole0 type veth peer name bot0 netns bot
    ip address add $GATEWAY_IP/24 dev sinkhole0
    ip link set sinkhole0 up
    ip -n bot address add $BOT_IP/24 dev bot0
    ip -n bot link set bot0 up
    ip -n bot link set lo up
    ip -n bot route add default via $GATEWAY_IP
    ip rule add fwmark 0x5348 lookup 100
    ip route add local 0.0.0.0/0 dev lo table 100
    nft -f /etc/nftables.d/sinkhole.nft"
in_bot() { in_container ip netns exec bot "$@"; }
check "the bot's TCP connection to port 4444 is taken" in_bot sh -c "printf 'bot-tcp-4444' | nc -N -w 3 $SEIZED_IP 4444"
check "the bot's UDP datagram to port 5555 is sent" in_bot sh -c "printf 'bot-udp-5555' | nc -u -w 1 $SEIZED_IP 5555"

# --- Reload keeps serving and rereads the lists -------------------------------------------
printf 'cc.botnet.example\nnew.botnet.example\n' > "$root/etc/sinkhole/families/example.txt"
pid_before_reload=$(in_container systemctl show -P MainPID sinkhole.service)
check "systemctl reload sinkhole" in_container timeout 30 systemctl reload sinkhole.service
answered=""
for _ in $(seq 1 50); do
    [ "$(dig_a "$SINKHOLE_IP" new.botnet.example 2>/dev/null)" = "$SINKHOLE_IP" ] && { answered=1; break; }
    sleep 0.1
done
if [ -n "$answered" ]; then pass "after reload, a name added to the list is answered"; else fail "after reload, a name added to the list is answered" "$(journal | tail -20)"; fi
expect_eq "after reload, the old name is still answered" "$SINKHOLE_IP" "$(dig_a "$SINKHOLE_IP" cc.botnet.example 2>&1)"
expect_eq "after reload, sinkhole.service is still running, same PID" "running $pid_before_reload" \
    "$(in_container systemctl show -P SubState sinkhole.service) $(in_container systemctl show -P MainPID sinkhole.service)"

# --- The process: unprivileged, two capabilities ------------------------------------------
main_pid=$(in_container systemctl show -P MainPID sinkhole.service)
status=$(in_container cat "/proc/$main_pid/status")
sinkhole_uid=$(in_container id -u sinkhole)
expect_eq "the daemon runs as the sinkhole user (real, effective, saved, fs uid)" \
    "$sinkhole_uid $sinkhole_uid $sinkhole_uid $sinkhole_uid" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<< "$status")"
# CAP_NET_BIND_SERVICE (bit 10) and CAP_NET_RAW (bit 13), nothing else, in every set but the
# inheritable one.
for set in CapEff CapPrm CapBnd CapAmb; do
    expect_eq "$set is cap_net_bind_service,cap_net_raw only" 0000000000002400 "$(awk -v s="$set:" '$1 == s { print $2 }' <<< "$status")"
done
expect_eq "NoNewPrivs is set" 1 "$(awk '/^NoNewPrivs:/ { print $2 }' <<< "$status")"
expect_eq "the system call filter is on" 2 "$(awk '/^Seccomp:/ { print $2 }' <<< "$status")"
# The threads, by name, with the nice values they set themselves under the unit's filter: the
# writer and its commit thread 10 below the process (the unit sets no Nice=), no other thread
# (the DNS UDP worker, the event loops, the pools) below the main thread.
threads=$(in_container sh -c "for t in /proc/$main_pid/task/*; do printf '%s %s %s\n' \"\${t##*/}\" \"\$(cut -d' ' -f19 \$t/stat)\" \"\$(cat \$t/comm)\"; done")
main_nice=$(awk -v p="$main_pid" '$1 == p { print $2 }' <<< "$threads")
expect_eq "only the writer's threads run below the main thread's priority, at 10 below it" "sinkhole-commit $(( main_nice + 10 ))
sinkhole-writer $(( main_nice + 10 ))" "$(awk -v n="$main_nice" '$2 > n { print $3, $2 }' <<< "$threads" | sort)"
expect_eq "the DNS UDP worker is named" 1 "$(awk '$3 == "dns-udp-0"' <<< "$threads" | wc -l)"

# --- The watchdog: WatchdogSec=30s, so the first WATCHDOG=1 comes 15 s after READY=1 -------
watchdog=$watchdog_at_start
while [ $((SECONDS - started_at)) -lt 25 ]; do
    watchdog=$(in_container systemctl show -P WatchdogTimestampMonotonic sinkhole.service)
    [ "$watchdog" != "$watchdog_at_start" ] && break
    sleep 0.5
done
if [ "$watchdog" != "$watchdog_at_start" ] && [ "$(in_container systemctl show -P MainPID sinkhole.service)" = "$main_pid" ]; then
    pass "the daemon pings the watchdog (WatchdogTimestamp moved on $(( (watchdog - watchdog_at_start) / 1000000 )) s after ready), no restart"
else
    fail "the daemon pings the watchdog" "WatchdogTimestampMonotonic stayed $watchdog_at_start" "$(journal | grep -i watchdog)"
fi

# --- stats, the feed API, the export service ----------------------------------------------
# Rows reach the store within writer.flush_interval_ms (200 ms); stats reads beside the daemon.
sleep 1
stats=$(in_container runuser -u sinkhole -- sinkhole stats --config /etc/sinkhole/sinkhole.yaml --since 1h --format json 2>&1) &&
    grep -q '"dns"' <<< "$stats" && pass "sinkhole stats runs as the sinkhole user beside the daemon" ||
    fail "sinkhole stats runs as the sinkhole user beside the daemon" "$stats"
feed=$(in_container curl -sS -m 5 -H 'Authorization: Bearer boot-test-token' \
    "http://127.0.0.1:8444/v1/checkins?date=$(date -u +%F)&format=jsonl" 2>&1 || true)
if grep -q '"gate.php?id=1"\|/gate.php?id=1' <<< "$feed"; then pass "the feed API serves today's HTTP check-in"; else fail "the feed API serves today's HTTP check-in" "$feed"; fi
if in_container timeout 60 systemctl start sinkhole-export.service; then
    manifest=$(in_container sh -c 'ls /var/lib/sinkhole/feeds/test-isp/MANIFEST.sha256 && stat -c %U /var/lib/sinkhole/feeds/test-isp/MANIFEST.sha256' 2>&1)
    expect_eq "sinkhole-export.service writes yesterday's export as the sinkhole user" \
        "/var/lib/sinkhole/feeds/test-isp/MANIFEST.sha256 sinkhole" "$(tr '\n' ' ' <<< "$manifest" | sed 's/ $//')"
else
    fail "sinkhole-export.service writes yesterday's export as the sinkhole user" \
        "$(in_container journalctl --no-pager -o cat -u sinkhole-export.service)"
fi

check "sinkhole-export.timer starts and has its next run" in_container sh -c \
    'systemctl start sinkhole-export.timer && test -n "$(systemctl show -P NextElapseUSecRealtime sinkhole-export.timer)"'

# --- systemd-analyze on the running unit ----------------------------------------------------
security=$(in_container systemd-analyze security --no-pager sinkhole.service 2>&1 || true)
exposure=$(sed -n 's/.*Overall exposure level for sinkhole.service: \([0-9.]*\).*/\1/p' <<< "$security")
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    pass "systemd-analyze security on the running unit: exposure $exposure (at most 2.0)"
else
    fail "systemd-analyze security on the running unit: exposure ${exposure:-?} (at most 2.0)" "$security"
fi

# --- Stop: drained into the store ---------------------------------------------------------
check "systemctl stop sinkhole" in_container timeout 100 systemctl stop sinkhole.service
expect_eq "the service stopped cleanly" "inactive success" \
    "$(in_container systemctl show -P ActiveState sinkhole.service) $(in_container systemctl show -P Result sinkhole.service)"
store() { in_container sqlite3 -separator ' ' /var/lib/sinkhole/checkins.db "$1" 2>&1; }
expect_eq "the store holds the DNS queries" 1 "$(store "SELECT count(*) > 0 FROM dns_queries WHERE qname = 'cc.botnet.example'")"
expect_eq "the store holds the HTTP request on 80" "http /gate.php?id=1" \
    "$(store "SELECT service, http_path FROM checkins WHERE service = 'http' AND dst_port = 80")"
expect_eq "the store holds the TLS request on 443" "tls cc.botnet.example" \
    "$(store "SELECT service, tls_sni FROM checkins WHERE service = 'tls' AND dst_port = 443 LIMIT 1")"
expect_eq "the store holds the catch-all's TCP and UDP check-ins on its own port" "tcp 10000 0
udp 10000 0" "$(store "SELECT service, listener_port, redirected FROM checkins WHERE service IN ('tcp', 'udp') AND dst_port = 10000 ORDER BY service")"
expect_eq "the store holds the bot's redirected TCP and tproxied UDP check-ins with the ports it dialled" \
    "tcp $BOT_IP $SEIZED_IP 4444 10000 1 example
udp $BOT_IP $SEIZED_IP 5555 10000 1 example" \
    "$(store "SELECT service, src_ip, dst_ip, dst_port, listener_port, redirected, family FROM checkins WHERE src_ip = '$BOT_IP' ORDER BY service")"
expect_eq "capture stored the datagram to the unserved port (service packet)" "packet udp example 4444" \
    "$(store "SELECT service, transport, family, dst_port FROM checkins WHERE dst_port = 4444 AND src_ip != '$BOT_IP'")"
expect_eq "the store's files belong to the sinkhole user, unreadable by others" "sinkhole 640" \
    "$(in_container stat -c '%U %a' /var/lib/sinkhole/checkins.db)"

# --- Restart=on-failure: a killed daemon comes back and serves -------------------------------
# Started again (on the store of the first run), then killed: what the rings held is lost,
# which is why this comes after the store was checked.
start_ready "systemctl start sinkhole, again: ready on the same store"
main_pid=$(in_container systemctl show -P MainPID sinkhole.service)
in_container systemctl kill --signal=KILL sinkhole.service
restarted=""
for _ in $(seq 1 100); do
    new_pid=$(in_container systemctl show -P MainPID sinkhole.service)
    if [ "$new_pid" != 0 ] && [ "$new_pid" != "$main_pid" ] && [ "$(in_container systemctl show -P SubState sinkhole.service)" = running ] &&
        [ "$(dig_a "$SINKHOLE_IP" cc.botnet.example 2>/dev/null)" = "$SINKHOLE_IP" ]; then
        restarted=1; break
    fi
    sleep 0.1
done
if [ -n "$restarted" ]; then pass "killed with SIGKILL, the daemon is restarted (RestartSec=2s) and answers"; else
    fail "killed with SIGKILL, the daemon is restarted (RestartSec=2s) and answers" "$(in_container systemctl status --no-pager sinkhole.service)"; fi

check "systemctl stop sinkhole, again" in_container timeout 100 systemctl stop sinkhole.service

# --- Socket activation: sinkhole.socket binds 53, 80 and 443, the first query starts the service
check "systemctl start sinkhole.socket, the service not running" in_container sh -ec \
    'systemctl reset-failed sinkhole.service || true; systemctl start sinkhole.socket; systemctl is-active --quiet sinkhole.socket; ! systemctl is-active --quiet sinkhole.service'
# The query waits in the socket systemd holds while the service starts (Type=notify: until READY=1).
expect_eq "the first query starts sinkhole.service and is answered" "$SINKHOLE_IP" \
    "$(in_container dig +short +time=5 +tries=1 "@$SINKHOLE_IP" cc.botnet.example 2>&1)"
adopted=$(journal | grep -c "listener adopted from systemd" || true)
expect_eq "the daemon adopted the six sockets of sinkhole.socket" 6 "$adopted"
expect_eq "HTTP answers 200 on the socket systemd passed" 200 "$(in_container curl -sS -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:80:$SEIZED_IP" http://cc.botnet.example/gate.php?id=socket 2>&1)"
expect_eq "TLS answers 200 on the socket systemd passed" 200 "$(in_container curl -sS -k -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:443:$SEIZED_IP" https://cc.botnet.example/gate.php?id=socket 2>&1)"
expect_eq "DNS over TCP answers on the socket systemd passed" "$SINKHOLE_IP" \
    "$(in_container dig +short +tcp +time=2 +tries=2 "@$SINKHOLE_IP" cc.botnet.example 2>&1)"
# The sockets outlive the service: stopped, the next query starts it again.
check "systemctl stop sinkhole.service, the socket stays" in_container sh -ec \
    'systemctl stop sinkhole.service; systemctl is-active --quiet sinkhole.socket'
expect_eq "the next query starts the service again and is answered" "$SINKHOLE_IP" \
    "$(in_container dig +short +time=5 +tries=1 "@$SINKHOLE_IP" cc.botnet.example 2>&1)"
check "systemctl stop sinkhole.socket sinkhole.service" in_container timeout 100 systemctl stop sinkhole.socket sinkhole.service

# --- Without systemd's User=: started as root, the daemon drops to user: itself --------------
sed 's/^node: boot-test$/node: boot-test\nuser: sinkhole\ngroup: sinkhole/' "$root/etc/sinkhole/sinkhole.yaml" > "$root/etc/sinkhole/as-root.yaml"
check "a root start with user: sinkhole (a transient unit, no hardening)" in_container systemd-run --quiet --unit=sinkhole-as-root \
    /usr/local/bin/sinkhole run --config /etc/sinkhole/as-root.yaml
for _ in $(seq 1 300); do
    in_container journalctl --no-pager -o cat -u sinkhole-as-root.service | grep -q "sinkhole ready" && break
    sleep 0.1
done
root_pid=$(in_container systemctl show -P MainPID sinkhole-as-root.service)
expect_eq "after the drop: the sinkhole user, no capability left" "$sinkhole_uid $sinkhole_uid $sinkhole_uid $sinkhole_uid 0000000000000000" \
    "$(in_container awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 } /^CapEff:/ { c = $2 } END { print u, c }' "/proc/$root_pid/status")"
expect_eq "after the drop: DNS answers" "$SINKHOLE_IP" "$(dig_a "$SINKHOLE_IP" cc.botnet.example 2>&1)"
expect_eq "after the drop: HTTP answers 200" 200 "$(in_container curl -sS -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:80:$SEIZED_IP" http://cc.botnet.example/gate.php?id=dropped 2>&1)"
check "the root-started daemon stops" in_container timeout 100 systemctl stop sinkhole-as-root.service

# --- A PostgreSQL store on a unix socket ---------------------------------------------------
# What the unit's AF_UNIX is for: the packaged cluster, peer authentication as the sinkhole
# user (its role owns the database). sinkhole-export.service reaches it from its private
# network namespace: a unix socket is a file, not an address.
check "PostgreSQL has a sinkhole role and database" in_container sh -ec '
    for _ in $(seq 1 100); do runuser -u postgres -- pg_isready -q && break; sleep 0.1; done
    runuser -u postgres -- createuser sinkhole
    runuser -u postgres -- createdb --owner=sinkhole sinkhole'
printf 'store:\n  postgres: "postgresql://sinkhole@/sinkhole?host=/run/postgresql"\n' >> "$root/etc/sinkhole/sinkhole.yaml"
start_ready "systemctl start sinkhole with the PostgreSQL store: ready"
expect_eq "DNS answers with the PostgreSQL store" "$SINKHOLE_IP" "$(dig_a "$SINKHOLE_IP" cc.botnet.example 2>&1)"
expect_eq "HTTP answers 200 with the PostgreSQL store" 200 "$(in_container curl -sS -m 5 -o /dev/null -w '%{http_code}' -A boot-test/1.0 \
    --resolve "cc.botnet.example:80:$SEIZED_IP" http://cc.botnet.example/gate.php?id=postgres 2>&1)"
check "systemctl stop sinkhole, PostgreSQL store" in_container timeout 100 systemctl stop sinkhole.service
expect_eq "the HTTP check-in is in PostgreSQL" "http|/gate.php?id=postgres|boot-test" \
    "$(in_container runuser -u sinkhole -- psql -d sinkhole -h /run/postgresql -tA -c \
        "SELECT service, convert_from(http_path, 'UTF8'), node FROM checkins WHERE http_path = '/gate.php?id=postgres'::bytea" 2>&1)"
check "sinkhole-export.service exports from PostgreSQL" in_container timeout 60 systemctl start sinkhole-export.service

journal_lines=$(journal)
for line in "sinkhole ready" "capture open" "capture finished"; do
    if grep -q "$line" <<< "$journal_lines"; then pass "the journal has \"$line\""; else fail "the journal has \"$line\"" "$journal_lines"; fi
done
# The daemon's <N> prefixes become journal priorities: "sinkhole ready" is a notice, "capture
# open" information.
expect_eq "the journal files \"sinkhole ready\" at priority notice" "sinkhole ready" \
    "$(in_container journalctl --no-pager -o cat -p notice..notice -u sinkhole.service | grep -o 'sinkhole ready$' | head -1)"
expect_eq "the journal files \"capture open\" at priority info" 1 \
    "$(in_container journalctl --no-pager -o cat -p info..info -u sinkhole.service | grep -c 'capture open' | awk '{ print ($1 > 0) }')"

if [ "$failures" -gt 0 ]; then
    echo "boot-test: $failures check(s) failed; the daemon's journal:"
    echo "$journal_lines" | tail -40
    exit 1
fi
echo "boot-test: every check passed"
