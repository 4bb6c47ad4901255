#!/usr/bin/env bash
# Install the Debian 12 packages that keel's build, tests and tools need.
# Quiet and quick when everything is there already; safe to run again and again.
set -euo pipefail

# One line per purpose; every name exists in Debian 12 (bookworm).
PACKAGES=(
	# build
	build-essential pkg-config clang libclang-rt-14-dev clang-format python3
	# libraries keel links
	libdpdk-dev dpdk libaio-dev liburing-dev uuid-dev libssl-dev libjson-c-dev libisal-dev
	# unit tests
	libcunit1-dev
	# integration tests: initiators and a reference target
	libiscsi-bin libiscsi-dev qemu-utils qemu-block-extra qemu-system-x86 tgt
	# the guest tests (test/vm): qemu-system-x86 and socat (listed above), file system checks
	e2fsprogs
	# benchmarks, debugging and the tools scripts call
	gnuplot-nox valgrind gdb procps iproute2 util-linux socat
)

usage() {
	cat <<EOF
Usage: scripts/pkgdep.sh [--check] [--help]

Install every Debian 12 package that keel needs to build, test and run its tools:
$(printf '%s\n' "${PACKAGES[@]}" | fmt -w 90 | sed 's/^/  /')

Installed packages are found with dpkg-query; only when something is missing does it run
'apt-get update' and 'apt-get install --no-install-recommends' (non-interactive). When all is
installed it prints nothing and exits 0. Installing needs root.

  --check   only report the missing packages; exit 1 if any are missing
  --help    show this help
EOF
}

check_only=n
for arg in "$@"; do
	case "$arg" in
	-h | --help)
		usage
		exit 0
		;;
	--check) check_only=y ;;
	*)
		echo "pkgdep.sh: unknown option '$arg' (see --help)" >&2
		exit 2
		;;
	esac
done

if ! command -v dpkg-query > /dev/null 2>&1 || ! command -v apt-get > /dev/null 2>&1; then
	echo "pkgdep.sh: this script needs a Debian-based system (dpkg-query and apt-get)." >&2
	exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2> /dev/null || true)
	if [[ "$status" != ii* ]]; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$check_only" = y ]; then
	echo "pkgdep.sh: missing packages: ${missing[*]}" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "pkgdep.sh: these packages are missing: ${missing[*]}" >&2
	echo "pkgdep.sh: installing them needs root; run: sudo scripts/pkgdep.sh" >&2
	exit 1
fi

echo "pkgdep.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q < /dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" < /dev/null
