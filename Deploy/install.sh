#!/usr/bin/env bash
# Installs, upgrades or removes the sinkhole on this host, or stages it into DESTDIR.
# Deploy/README.md is the step-by-step around it; --help lists the options and the files.
#
# Idempotent: a second run changes nothing ("unchanged"); a run over an older install replaces
# the binary, units and documentation and keeps /etc/sinkhole as the operator left it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# The release build this script, `make deb` and `make build` (which reads this line) install:
# the Swift runtime linked in, so the daemon does not depend on a toolchain left in place (nor
# on one readable under ProtectHome=), and its relocations read-only before main (-z now, as
# Debian builds daemons). One set of flags: SwiftPM rebuilds every module when they change.
build_flags=(-c release --product sinkhole --static-swift-stdlib -Xlinker -z -Xlinker now)

usage() {
    cat <<EOF
Usage: Deploy/install.sh [--prefix DIR] [--binary FILE]
       Deploy/install.sh --uninstall [--purge] [--prefix DIR]

Installs the sinkhole daemon and its systemd units, or upgrades an earlier install: builds the
release binary when needed (swift build ${build_flags[*]}; as the source tree's owner when run
as root), then installs

  PREFIX/bin/sinkhole                          the daemon (replaced atomically on upgrade)
  UNITDIR/sinkhole.service, sinkhole.socket,   the units, naming PREFIX/bin/sinkhole
      sinkhole-export.service, sinkhole-export.timer
  LIBDIR/sysusers.d/sinkhole.conf              the sinkhole user and group
  LIBDIR/tmpfiles.d/sinkhole.conf              /var/lib/sinkhole (the store) and its feeds/
  LIBDIR/sysctl.d/sinkhole.conf                socket buffers for bursts of bots
  PREFIX/share/doc/sinkhole/                   README.md (the operator's guide), examples/ (with
                                               the Grafana dashboard)
  /etc/sinkhole/sinkhole.yaml                  an example configuration, and its lists in
  /etc/sinkhole/families/                      families/: only when there is no configuration
                                               yet; an existing one is never overwritten

LIBDIR is PREFIX/lib and UNITDIR PREFIX/lib/systemd/system for the prefixes systemd searches
(/usr/local, /usr); for any other prefix they are /etc, /etc/systemd/system.

On this host (no DESTDIR) as root, with systemd running: creates the user (systemd-sysusers)
and the state directory (systemd-tmpfiles), applies the sysctl settings, reloads systemd and,
on an upgrade, restarts a running sinkhole.service once the new binary accepts the
configuration. Otherwise it prints the commands to run. It never enables or starts the
sinkhole on a first install: the example configuration must be edited first.

Options:
  --prefix DIR     where the binary, units and documentation go (default /usr/local); give
                   the same prefix to --uninstall
  --binary FILE    install FILE instead of building (a binary built elsewhere)
  --uninstall      stop and disable the units, remove what an install put under PREFIX and
                   the unit, sysusers, tmpfiles and sysctl files; keeps /etc/sinkhole, the
                   store in /var/lib/sinkhole and the sinkhole user
  --purge          with --uninstall: also delete /etc/sinkhole and /var/lib/sinkhole (the
                   stored check-ins: evidence; copy them away first)
  -h, --help       this text

Environment:
  DESTDIR          stage every file under this directory instead of /, run nothing on this
                   host (for packaging; Deploy/deb/build.sh uses it)
  SWIFT            the swift command (default: swift)
EOF
}

say() { echo "install.sh: $*"; }
die() { echo "install.sh: error: $*" >&2; exit 1; }

prefix=/usr/local binary="" uninstall=0 purge=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        --uninstall) uninstall=1; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; echo >&2; die "unknown argument: $1" ;;
    esac
done
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || die "--purge goes with --uninstall"
case $prefix in /*) ;; *) die "--prefix must be an absolute path, not $prefix" ;; esac
prefix=${prefix%/}; [ -n "$prefix" ] || prefix=/
destdir=${DESTDIR:-}
destdir=${destdir%/}
swift=${SWIFT:-swift}

bindir=$prefix/bin
docdir=$prefix/share/doc/sinkhole
case $prefix in
    /usr|/usr/local) libdir=$prefix/lib; unitdir=$prefix/lib/systemd/system ;;
    *) libdir=/etc; unitdir=/etc/systemd/system ;;
esac
confdir=/etc/sinkhole
statedir=/var/lib/sinkhole
units=(sinkhole.service sinkhole.socket sinkhole-export.service sinkhole-export.timer)
config=$confdir/sinkhole.yaml

# Acting on this host means root and a systemd that runs (sd_booted's test); with DESTDIR
# nothing is run, whoever runs it.
on_host=0 systemd_running=0
if [ -z "$destdir" ]; then
    [ "$(id -u)" = 0 ] || die "installing into / needs root (or set DESTDIR to stage the files)"
    on_host=1
    [ -d /run/systemd/system ] && systemd_running=1
fi

# Commands the operator must run because this script could not; printed at the end.
todo=()

# put SRC PATH MODE: installs SRC as PATH (under DESTDIR) unless it is already that file, through
# a temporary name and a rename, so a running sinkhole keeps its binary until it is restarted.
put() {
    local src=$1 path=$2 mode=$3 dest=$destdir$2 verb=installed
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        say "unchanged $path"; return
    fi
    [ -e "$dest" ] && verb=updated
    install -d -m 0755 "$(dirname "$dest")"
    install -m "$mode" "$src" "$dest.install-$$"
    mv -f "$dest.install-$$" "$dest"
    say "$verb $path"
}

# put_unit NAME: a unit from systemd/, naming this prefix's binary and documentation.
put_unit() {
    local staged=$work/$1
    sed -e "s|/usr/local/bin/sinkhole|$bindir/sinkhole|g" \
        -e "s|file:/usr/local/share/doc/sinkhole/|file:$docdir/|g" "$repo/systemd/$1" > "$staged"
    put "$staged" "$unitdir/$1" 0644
}

# keep_or_put SRC PATH: an operator's file: installed when missing, never replaced.
keep_or_put() {
    if [ -e "$destdir$2" ]; then
        say "kept $2 (yours; this version's example is $docdir/examples/${2#"$confdir"/})"
    else
        put "$1" "$2" 0644
    fi
}

# as_owner COMMAND...: runs COMMAND as the owner of the source tree, so that a root install
# does not leave root-owned files in .build for the next build by the developer.
as_owner() {
    local owner; owner=$(stat -c %U "$repo")
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ] && command -v runuser >/dev/null; then
        local home; home=$(getent passwd "$owner" | cut -d: -f6)
        runuser -u "$owner" -- env HOME="$home" PATH="$PATH" "$@"
    else
        "$@"
    fi
}

built_binary() {
    if [ -n "$binary" ]; then
        [ -f "$binary" ] && [ -x "$binary" ] || die "--binary $binary is not an executable file"
        echo "$binary"; return
    fi
    if command -v "$swift" >/dev/null; then
        say "building: $swift build ${build_flags[*]} (nothing to do when it is up to date)" >&2
        as_owner "$swift" build --package-path "$repo" "${build_flags[@]}" >&2 \
            || die "the release build failed"
        echo "$(as_owner "$swift" build --package-path "$repo" "${build_flags[@]}" --show-bin-path)/sinkhole"
    elif [ -x "$repo/.build/release/sinkhole" ]; then
        say "no $swift on PATH: installing the binary built earlier, $repo/.build/release/sinkhole" >&2
        echo "$repo/.build/release/sinkhole"
    else
        die "no $swift on PATH and no built binary: build with '$swift build ${build_flags[*]}' or pass --binary FILE"
    fi
}

install_all() {
    local upgrade=0 built
    [ -e "$destdir$bindir/sinkhole" ] && upgrade=1
    built=$(built_binary)
    "$built" --version >/dev/null || die "$built does not run"
    if [ "$upgrade" = 1 ]; then
        say "upgrading the sinkhole under $prefix to $("$built" --version)${destdir:+ in $destdir}"
    else
        say "installing the sinkhole $("$built" --version) under $prefix${destdir:+ in $destdir}"
    fi

    put "$built" "$bindir/sinkhole" 0755
    for unit in "${units[@]}"; do put_unit "$unit"; done
    put "$repo/systemd/sysusers.d/sinkhole.conf" "$libdir/sysusers.d/sinkhole.conf" 0644
    put "$repo/systemd/tmpfiles.d/sinkhole.conf" "$libdir/tmpfiles.d/sinkhole.conf" 0644
    put "$here/sysctl.d/sinkhole.conf" "$libdir/sysctl.d/sinkhole.conf" 0644
    put "$here/README.md" "$docdir/README.md" 0644
    put "$here/sinkhole.yaml" "$docdir/examples/sinkhole.yaml" 0644
    put "$here/nftables.conf" "$docdir/examples/nftables.conf" 0644
    put "$here/grafana-dashboard.json" "$docdir/examples/grafana-dashboard.json" 0644
    local list
    for list in "$here"/families/*.txt; do
        put "$list" "$docdir/examples/families/${list##*/}" 0644
    done

    # The example lists come with the example configuration: once a configuration exists,
    # the lists it names are the operator's, and an example list deleted on purpose stays so.
    if [ -e "$destdir$config" ]; then
        say "kept $config (yours; this version's example is $docdir/examples/sinkhole.yaml)"
        say "kept the lists in $confdir/families/ as they are"
    else
        install -d -m 0755 "$destdir$confdir" "$destdir$confdir/families"
        put "$here/sinkhole.yaml" "$config" 0644
        for list in "$here"/families/*.txt; do keep_or_put "$list" "$confdir/families/${list##*/}"; done
    fi

    local sysusers=$libdir/sysusers.d/sinkhole.conf tmpfiles=$libdir/tmpfiles.d/sinkhole.conf
    local sysctl_file=$libdir/sysctl.d/sinkhole.conf
    if [ "$systemd_running" = 1 ]; then
        systemd-sysusers "$sysusers" && say "ran systemd-sysusers $sysusers"
        systemd-tmpfiles --create "$tmpfiles" && say "ran systemd-tmpfiles --create $tmpfiles"
        if /lib/systemd/systemd-sysctl "$sysctl_file" 2>/dev/null || sysctl -q -p "$sysctl_file"; then
            say "applied $sysctl_file"
        else
            say "warning: could not apply $sysctl_file now (a container?); it applies at boot"
        fi
        systemctl daemon-reload && say "ran systemctl daemon-reload"
        if [ "$upgrade" = 1 ] && systemctl -q is-active sinkhole.service; then
            # ExecStartPre would refuse a configuration the new version rejects, leaving the
            # sinkhole down: check first and leave the old process serving if it does.
            if "$bindir/sinkhole" check-config --config "$config" >/dev/null; then
                systemctl restart sinkhole.service && say "restarted sinkhole.service (it was running)"
            else
                say "warning: the new binary rejects $config (above): sinkhole.service NOT restarted, the old version keeps running"
                todo+=("fix $config, then: systemctl restart sinkhole.service")
            fi
        elif [ "$upgrade" = 1 ]; then
            say "sinkhole.service is not running: not started"
        fi
    else
        if [ "$on_host" = 1 ]; then
            say "systemd is not running on this host: the steps below are yours to run"
        else
            say "DESTDIR is set: nothing was run; on the target host, as root:"
        fi
        todo+=("systemd-sysusers $sysusers      # or: useradd --system --user-group --home-dir $statedir --shell /usr/sbin/nologin sinkhole")
        todo+=("systemd-tmpfiles --create $tmpfiles      # or: install -d -o sinkhole -g sinkhole -m 0750 $statedir $statedir/feeds")
        todo+=("sysctl -p $sysctl_file")
        todo+=("systemctl daemon-reload")
        [ "$upgrade" = 1 ] && todo+=("systemctl try-restart sinkhole.service      # the upgrade takes effect on restart")
    fi
    if [ "$upgrade" = 0 ]; then
        todo+=("edit $config and the lists in $confdir/families/ (see $docdir/README.md)")
        todo+=("$bindir/sinkhole check-config --config $config")
        todo+=("systemctl enable --now sinkhole.service      # or sinkhole.socket, for socket activation")
        todo+=("systemctl enable --now sinkhole-export.timer      # once feeds: is configured")
    fi
}

uninstall_all() {
    if [ "$systemd_running" = 1 ]; then
        local unit
        for unit in sinkhole.socket sinkhole-export.timer sinkhole.service sinkhole-export.service; do
            if systemctl -q is-enabled "$unit" 2>/dev/null || systemctl -q is-active "$unit" 2>/dev/null; then
                systemctl disable --now "$unit" && say "stopped and disabled $unit"
            fi
        done
    elif [ "$on_host" = 1 ]; then
        say "systemd is not running: stop a sinkhole you started yourself"
    fi
    local path
    for path in "$bindir/sinkhole" "${units[@]/#/$unitdir/}" "$libdir/sysusers.d/sinkhole.conf" \
                "$libdir/tmpfiles.d/sinkhole.conf" "$libdir/sysctl.d/sinkhole.conf"; do
        if [ -e "$destdir$path" ]; then rm -f "$destdir$path"; say "removed $path"; fi
    done
    if [ -e "$destdir$docdir" ]; then rm -rf "$destdir$docdir"; say "removed $docdir"; fi
    if [ "$systemd_running" = 1 ]; then
        systemctl daemon-reload && say "ran systemctl daemon-reload"
    elif [ "$on_host" = 0 ]; then
        todo+=("systemctl disable --now sinkhole.socket sinkhole.service sinkhole-export.timer      # on the target host, before removing the files")
    fi
    say "the sysctl settings stay in force until the next boot"

    if [ "$purge" = 1 ]; then
        for path in "$confdir" "$statedir"; do
            if [ -e "$destdir$path" ]; then rm -rf "$destdir$path"; say "purged $path"; fi
        done
    else
        [ -e "$destdir$confdir" ] && say "kept $confdir (the configuration and lists; --uninstall --purge deletes it)"
        [ -e "$destdir$statedir" ] && say "kept $statedir (the store, $(du -sh "$destdir$statedir" | cut -f1); --uninstall --purge deletes it)"
    fi
    if [ "$on_host" = 1 ] && getent passwd sinkhole >/dev/null; then
        say "kept the sinkhole user (files it owns may remain elsewhere): userdel sinkhole removes it"
    fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sinkhole-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "$uninstall" = 1 ]; then uninstall_all; else install_all; fi

if [ ${#todo[@]} -gt 0 ]; then
    echo
    echo "Next:"
    for step in "${todo[@]}"; do echo "  $step"; done
fi
