#!/usr/bin/env bash
# Makes a virtualenv with IntelMQ (from the Python package index) ready for check_shadowserver.py.
#
#   Tests/IntelMQ/setup.sh [VENV_DIR]      (default: .build/intelmq-venv under the repository)
#
# Prints the venv's python on stdout (everything else goes to stderr), so a test can do
#   py=$(Tests/IntelMQ/setup.sh "$dir") && "$py" Tests/IntelMQ/check_shadowserver.py OUT EXPECTED.jsonl
#
# Idempotent: a venv that is complete (marker file written last) for this IntelMQ version and
# this Python is reused after a quick import check; anything else under VENV_DIR that is a venv
# is rebuilt. The Shadowserver schema (Tests/Fixtures/shadowserver/shadowserver-intelmq-schema.json, or
# $INTELMQ_SHADOWSERVER_SCHEMA) is copied on every run to where the parser loads it:
# VAR_STATE_PATH/shadowserver-schema.json, with IntelMQ's root inside the venv (see
# check_shadowserver.py --schema-path), never /opt or /var of the machine.
set -euo pipefail

INTELMQ_VERSION=3.5.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${1:-$repo/.build/intelmq-venv}
schema=${INTELMQ_SHADOWSERVER_SCHEMA:-$repo/Tests/Fixtures/shadowserver/shadowserver-intelmq-schema.json}
# Debian's interpreter, not whatever python3 is first on PATH: python3-venv is what makes its
# `-m venv` work, and the same interpreter is on every machine of this kind and CI's.
python=/usr/bin/python3

say() { echo "setup.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ -f "$schema" ] || die "no Shadowserver schema at $schema (set INTELMQ_SHADOWSERVER_SCHEMA)"

# python3-venv (and python3 itself) from Debian when missing, as the Makefile installs its packages.
missing=""
for p in python3 python3-venv; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing missing packages:$missing"
    apt_get=apt-get; [ "$(id -u)" = 0 ] || apt_get="sudo apt-get"
    $apt_get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive $apt_get -o DPkg::Lock::Timeout=600 install -y -qq $missing >&2
fi

mkdir -p "$(dirname "$venv")"
venv=$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")
marker=$venv/.sinkhole-intelmq-ready
want="intelmq==$INTELMQ_VERSION python=$("$python" -c 'import sys; print(sys.version.split()[0])')"

# Two test processes may set up the same venv at once: the second waits for the first.
exec 9>"$venv.lock"
flock -w 900 9 || die "another setup.sh has held $venv.lock for 15 minutes"

# Complete means: the marker (written last) names this version and Python, pip's record of the
# version is there, and the checker imports IntelMQ's parser and says where the schema goes.
target=""
ready() {
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] &&
        compgen -G "$venv/lib/python3*/site-packages/intelmq-$INTELMQ_VERSION.dist-info" >/dev/null &&
        target=$("$venv/bin/python" "$here/check_shadowserver.py" --schema-path 2>/dev/null)
}

if ready; then
    say "reusing $venv ($want)"
else
    if [ -e "$venv" ]; then
        # Only ever delete what is recognisably a venv (or an empty directory): VENV_DIR is an
        # argument, and a typo must not remove someone's files.
        if [ -f "$venv/pyvenv.cfg" ] || [ -z "$(ls -A "$venv" 2>/dev/null)" ]; then
            say "rebuilding $venv (incomplete, or not $want)"
            rm -rf "$venv"
        else
            die "$venv exists and is not a virtualenv; refusing to replace it"
        fi
    fi
    say "creating $venv with $want"
    "$python" -m venv "$venv" >&2
    # Short timeouts and few retries: an unreachable index should fail in seconds, not minutes.
    if ! "$venv/bin/python" -m pip install --quiet --retries 2 --timeout 20 "intelmq==$INTELMQ_VERSION" >&2; then
        rm -rf "$venv"
        die "pip could not install intelmq==$INTELMQ_VERSION. If the messages above show connection or
  name-resolution errors, the Python package index is unreachable from this machine (pip's index
  and proxy settings: 'pip config list'); the venv was removed so the next run starts clean."
    fi
    # The schema goes where the checker's IntelMQ computes VAR_STATE_PATH; asking the checker
    # keeps one definition of that path (and proves the parser imports).
    target=$("$venv/bin/python" "$here/check_shadowserver.py" --schema-path) ||
        die "intelmq==$INTELMQ_VERSION installed but check_shadowserver.py cannot import its Shadowserver parser"
fi

mkdir -p "$(dirname "$target")"
if ! cmp -s "$schema" "$target"; then
    cp "$schema" "$target.tmp.$$" && mv -f "$target.tmp.$$" "$target"
    say "schema copied to $target"
fi
[ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] || echo "$want" > "$marker"
echo "$venv/bin/python"
