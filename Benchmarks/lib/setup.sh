# Setting up a benchmark run, shared by the benchmark scripts (sourced, not run).

# install_missing "PACKAGES" ["SERVICE UNITS"]: installs the Debian packages not installed yet
# (apt-get, waiting a bounded time for another session's dpkg lock). A unit the install starts
# (nsd, knot and nginx do on a machine with systemd) is stopped and disabled again: benchmarks
# run their own instances on loopback ports and leave no server behind.
install_missing() {
    local packages=$1 units=${2:-} missing="" p unit was_active="" systemd=0 apt_get
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null && systemd=1
    if [ "$systemd" = 1 ]; then
        for unit in $units; do systemctl is-active --quiet "$unit" && was_active="$was_active $unit"; done
    fi
    echo "Installing missing packages:$missing"
    apt_get=apt-get; [ "$(id -u)" = 0 ] || apt_get="sudo apt-get"
    $apt_get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $apt_get -o DPkg::Lock::Timeout=600 install -y -qq $missing >/dev/null
    if [ "$systemd" = 1 ]; then
        for unit in $units; do
            case " $was_active " in *" $unit "*) continue ;; esac
            if systemctl is-active --quiet "$unit"; then
                echo "stopping and disabling the $unit service the install started"
                systemctl stop "$unit"; systemctl disable --quiet "$unit"
            fi
        done
    fi
}

# build_release_sinkhole: installs what the build itself needs (the Makefile's PACKAGES hold the
# same, for `make bench-*`; a script run directly on a fresh machine has not been through `make
# deps`), builds the release sinkhole and sets `bin` to it.
build_release_sinkhole() {
    install_missing "pkg-config libsqlite3-dev libpcap-dev"
    swift build -c release --product sinkhole >/dev/null
    bin=$(swift build -c release --show-bin-path)/sinkhole
}

# free_ports N: N distinct loopback ports, each free for both UDP and TCP when asked, taken below
# the kernel's ephemeral range (a port bind(0) picks is also what the next outgoing connection
# may take as its local port, before the server that was given it binds it).
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
wanted, ports = int(sys.argv[1]), []
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low, high = (int(x) for x in f.read().split())
# Below the range when there is room there (Linux's default starts at 32768), else above it.
first, last = (10000, low) if low > 11000 else ((high + 1, 65536) if high < 64535 else (1024, 65536))
def free(port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(100 * wanted):  # bounded
    if len(ports) == wanted:
        break
    port = random.randrange(first, last)
    if port not in ports and free(port, socket.SOCK_STREAM) and free(port, socket.SOCK_DGRAM):
        ports.append(port)
print(*ports)
PY
}
