#!/usr/bin/env bash
# Install a built keel tree under the configured prefix (make install runs this).
# Honours DESTDIR for staged installs; PREFIX comes from mk/config.mk (./configure --prefix).
set -euo pipefail

rootdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	cat <<EOF
Usage: [DESTDIR=<dir>] [PREFIX=<dir>] scripts/install.sh

Installs, under \$DESTDIR\$PREFIX (PREFIX defaults to CONFIG_PREFIX from mk/config.mk):
  bin/iscsi_tgt               the target (app/iscsi_tgt/iscsi_tgt)
  bin/rpc.py                  a wrapper that runs share/keel/scripts/rpc.py
  share/keel/scripts/         rpc.py and its rpc/ package
  include/keel/               the public headers
  lib/                        the static libraries (build/lib/*.a)
  etc/keel/                   the example configuration files, if any
Run 'make' first ('make install' does).
EOF
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
"") ;;
*) die "unknown option '$1' (see --help)" ;;
esac

if [ -z "${PREFIX:-}" ]; then
	[ -f "$rootdir/mk/config.mk" ] || die "mk/config.mk is missing; run ./configure first"
	PREFIX=$(sed -n 's/^CONFIG_PREFIX[[:space:]]*?\{0,1\}=[[:space:]]*//p' "$rootdir/mk/config.mk" |
		tail -n 1)
	[ -n "$PREFIX" ] || die "mk/config.mk has no CONFIG_PREFIX; run ./configure again"
fi
case "$PREFIX" in
/*) ;;
*) die "PREFIX must be an absolute path, not '$PREFIX'" ;;
esac
DESTDIR=${DESTDIR:-}
dest=$DESTDIR$PREFIX

app=$rootdir/app/iscsi_tgt/iscsi_tgt
[ -x "$app" ] || die "$app is not built; run 'make' first"

echo "Installing keel under $dest"

install -d "$dest/bin"
install -m 0755 "$app" "$dest/bin/iscsi_tgt"
echo "  bin/iscsi_tgt"

scripts=$dest/share/keel/scripts
install -d "$scripts/rpc"
install -m 0755 "$rootdir/scripts/rpc.py" "$scripts/rpc.py"
install -m 0644 "$rootdir"/scripts/rpc/*.py "$scripts/rpc/"
# The wrapper names the final location, without DESTDIR.
cat > "$dest/bin/rpc.py" <<EOF
#!/bin/sh
exec python3 "$PREFIX/share/keel/scripts/rpc.py" "\$@"
EOF
chmod 0755 "$dest/bin/rpc.py"
echo "  bin/rpc.py, share/keel/scripts/"

install -d "$dest/include/keel"
install -m 0644 "$rootdir"/include/keel/*.h "$dest/include/keel/"
echo "  include/keel/"

shopt -s nullglob
libs=("$rootdir"/build/lib/*.a)
if [ ${#libs[@]} -gt 0 ]; then
	install -d "$dest/lib"
	install -m 0644 "${libs[@]}" "$dest/lib/"
	echo "  lib/ (${#libs[@]} static libraries)"
fi

if [ -d "$rootdir/etc/keel" ] && [ -n "$(ls -A "$rootdir/etc/keel")" ]; then
	install -d "$dest/etc/keel"
	cp -R "$rootdir"/etc/keel/. "$dest/etc/keel/"
	echo "  etc/keel/"
fi
