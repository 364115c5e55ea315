#!/usr/bin/env bash
# Builds the sinkhole's Debian package (`make deb`) and checks it with lintian.
#
#   Deploy/deb/build.sh [--binary FILE] [--out DIR] [--no-lintian]
#
# The files are staged by Deploy/install.sh (DESTDIR, --prefix /usr), so the package and an
# install from the source put the same files in the same places; only the units move to
# /lib/systemd/system, Debian 12's place for a package's units. The version is the source's
# (SinkholeVersion.swift) with Debian revision 1; Deploy/deb/changelog must have an entry for
# it. The binary is install.sh's release build, with the Swift runtime linked in, so the
# package needs no Swift on the host: its Depends are computed from the binary's shared
# libraries by dpkg-shlibdeps. Prints the package's path on the last line.
#
# lintian runs last (when installed; `make deb` installs it) and any error fails the build;
# --no-lintian skips it (`make test` builds with it: DebPackageTests runs lintian itself).
# One error is overridden, as Deploy/deb/lintian-overrides explains: embedded-library libyaml,
# the LibYAML that the Yams package compiles in. Warnings it still gives, and why they stay:
#   - no-manual-page usr/bin/sinkhole: `sinkhole --help` and `sinkhole COMMAND --help` are the
#     reference, Deploy/README.md (in /usr/share/doc/sinkhole) the guide; no man page yet.
#   - initial-upload-closes-no-bugs: the package is not uploaded to Debian; no bug to close.
# (lintian's info and pedantic tags are not shown.)
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/.build/deb binary="" lintian=1
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-lintian) lintian=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 64 ;;
    esac
done
die() { echo "build.sh: error: $*" >&2; exit 1; }

version=$(sed -n 's/.*static let string = "\([^"]*\)".*/\1/p' "$repo/Sources/SinkholeServer/SinkholeVersion.swift")
[ -n "$version" ] || die "no version in Sources/SinkholeServer/SinkholeVersion.swift"
debversion=$version-1
changelog_version=$(sed -n '1s/^sinkhole (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$changelog_version" = "$debversion" ] \
    || die "Deploy/deb/changelog's latest entry is $changelog_version, the source is $debversion: add an entry"
arch=$(dpkg --print-architecture)
# Reproducible: file times and the archive's are the last commit's, not the build's.
SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$out/root
rm -rf "$root"
mkdir -p "$root"

# Everything install.sh installs, into the staging root; it runs nothing on this host.
DESTDIR=$root "$repo/Deploy/install.sh" --prefix /usr ${binary:+--binary "$binary"} > "$out/install.log" \
    || { cat "$out/install.log" >&2; die "Deploy/install.sh failed"; }
mkdir -p "$root/lib/systemd"
mv "$root/usr/lib/systemd/system" "$root/lib/systemd/system"
rmdir "$root/usr/lib/systemd"
# The binary's symbols go (Debian policy 10.1; the Swift runtime's metadata sections stay).
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/sinkhole"
"$root/usr/bin/sinkhole" --version > /dev/null || die "the stripped binary does not run"

doc=$root/usr/share/doc/sinkhole
install -m 0644 "$here/copyright" "$doc/copyright"
install -D -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/sinkhole"
gzip -9n < "$here/changelog" > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# Depends: the shared libraries the binary links, at the versions its symbols need.
shlibs=$out/shlibs
rm -rf "$shlibs"
mkdir -p "$shlibs/debian"
printf 'Source: sinkhole\n\nPackage: sinkhole\nArchitecture: any\n' > "$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O "$root/usr/bin/sinkhole" 2>"$out/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p') \
    || { cat "$out/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$depends" ] || die "dpkg-shlibdeps found no shared libraries"
rm -rf "$shlibs"

mkdir -m 0755 "$root/DEBIAN"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
# Every file under /etc is the operator's to edit: dpkg keeps their changes on upgrade.
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@DEPENDS@/$depends/" "$here/control" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

deb=$out/sinkhole_${debversion}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null

if [ "$lintian" = 0 ]; then
    :
elif command -v lintian > /dev/null; then
    lintian --fail-on error "$deb" || die "lintian reports errors in $deb (above)"
else
    echo "build.sh: lintian is not installed: the package is unchecked" >&2
fi
echo "$deb"
