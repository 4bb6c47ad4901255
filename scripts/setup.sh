#!/usr/bin/env bash
# Prepare the machine for keel: reserve 2 MiB hugepages and mount hugetlbfs (config), show
# them (status), or give them back and clean files left by dead keel processes (reset).
set -euo pipefail

HUGEPAGE_KB=2048
SYS_HUGEPAGES=/sys/kernel/mm/hugepages
NR_HUGEPAGES=/proc/sys/vm/nr_hugepages
DEFAULT_MOUNT=/dev/hugepages

usage() {
	cat <<EOF
Usage: [HUGEMEM=<MB>] scripts/setup.sh [config | status | reset | --help]

  config   (the default) reserve HUGEMEM MB of 2 MiB hugepages (default 2048 MB),
           by writing the page count to $NR_HUGEPAGES, and report how many
           pages the kernel actually gave (it may give fewer when memory is
           fragmented). Mounts hugetlbfs at $DEFAULT_MOUNT if no hugetlbfs is mounted.
  status   show reserved and free pages for each page size (and NUMA node), and the
           hugetlbfs mounts.
  reset    remove files named keel* from hugetlbfs mounts that no process holds open
           or mapped (left by a keel process that died), then release the 2 MiB pages
           ($NR_HUGEPAGES = 0). Pages still in use by live processes stay.

config and reset need root; status does not.

This script does not touch PCI devices: NVMe devices are not bound to vfio-pci or uio
by it yet, so the userspace NVMe driver cannot use them until that is done by hand.
Without hugepages iscsi_tgt still starts (it falls back to --no-huge with a warning).

Environment:
  HUGEMEM   megabytes of 2 MiB hugepages to reserve with config (default 2048)
EOF
}

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "'$1' needs root (try: sudo scripts/setup.sh $1)"
}

hugetlbfs_mounts() {
	awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts
}

pages_of_size() {
	# $1: page size in kB, $2: nr_hugepages or free_hugepages
	local file="$SYS_HUGEPAGES/hugepages-${1}kB/$2"
	if [ -r "$file" ]; then
		cat "$file"
	else
		echo 0
	fi
}

do_config() {
	local hugemem=${HUGEMEM:-2048}
	local want got
	need_root config
	[[ "$hugemem" =~ ^[0-9]+$ ]] || die "HUGEMEM must be a number of megabytes, not '$hugemem'"
	[ -d "$SYS_HUGEPAGES/hugepages-${HUGEPAGE_KB}kB" ] ||
		die "this kernel has no 2 MiB hugepages ($SYS_HUGEPAGES/hugepages-${HUGEPAGE_KB}kB)"

	want=$(((hugemem * 1024 + HUGEPAGE_KB - 1) / HUGEPAGE_KB))
	if ! echo "$want" > "$SYS_HUGEPAGES/hugepages-${HUGEPAGE_KB}kB/nr_hugepages" 2> /dev/null; then
		echo "$want" > "$NR_HUGEPAGES" 2> /dev/null ||
			die "cannot write $NR_HUGEPAGES (read-only /proc/sys, as in a container?);" \
				"iscsi_tgt will run without hugepages"
	fi
	got=$(pages_of_size "$HUGEPAGE_KB" nr_hugepages)
	echo "Reserved $got of $want requested 2 MiB hugepages ($((got * HUGEPAGE_KB / 1024)) MB)."
	if [ "$got" -lt "$want" ]; then
		echo "setup.sh: the kernel gave fewer pages than asked (memory fragmented or short);" \
			"try again, or ask for less with HUGEMEM=<MB>." >&2
	fi

	if [ -z "$(hugetlbfs_mounts)" ]; then
		mkdir -p "$DEFAULT_MOUNT"
		mount -t hugetlbfs nodev "$DEFAULT_MOUNT" || die "cannot mount hugetlbfs at $DEFAULT_MOUNT"
		echo "Mounted hugetlbfs at $DEFAULT_MOUNT."
	fi
}

do_status() {
	local dir size_kb total free node node_dir mounts
	printf '%-10s %-6s %10s %10s\n' "page size" "node" "reserved" "free"
	for dir in "$SYS_HUGEPAGES"/hugepages-*kB; do
		[ -d "$dir" ] || continue
		size_kb=${dir##*/hugepages-}
		size_kb=${size_kb%kB}
		total=$(cat "$dir/nr_hugepages")
		free=$(cat "$dir/free_hugepages")
		printf '%-10s %-6s %10s %10s\n' "$(human_size "$size_kb")" "all" "$total" "$free"
		for node_dir in /sys/devices/system/node/node[0-9]*; do
			[ -d "$node_dir/hugepages/hugepages-${size_kb}kB" ] || continue
			node=${node_dir##*/node}
			total=$(cat "$node_dir/hugepages/hugepages-${size_kb}kB/nr_hugepages")
			free=$(cat "$node_dir/hugepages/hugepages-${size_kb}kB/free_hugepages")
			printf '%-10s %-6s %10s %10s\n' "" "$node" "$total" "$free"
		done
	done
	mounts=$(awk '$3 == "hugetlbfs" { print "  " $2 " (" $4 ")" }' /proc/mounts)
	echo "hugetlbfs mounts:"
	if [ -n "$mounts" ]; then
		echo "$mounts"
	else
		echo "  none"
	fi
}

human_size() {
	if [ "$1" -ge 1048576 ]; then
		echo "$(($1 / 1048576)) GiB"
	elif [ "$1" -ge 1024 ]; then
		echo "$(($1 / 1024)) MiB"
	else
		echo "$1 KiB"
	fi
}

# Print every file under the given directories that some process holds open or has mapped.
files_in_use() {
	local path
	for path in "$@"; do
		find /proc/[0-9]*/fd -maxdepth 1 -lname "$path/*" -printf '%l\n' 2> /dev/null || true
		# shellcheck disable=SC2002 # cat skips the maps of processes that exit meanwhile
		cat /proc/[0-9]*/maps 2> /dev/null |
			awk -v dir="$path/" 'index($6, dir) == 1 { print $6 }'
	done
}

do_reset() {
	local mounts=() file removed=0 kept=0 left
	local -A busy=()
	need_root reset
	mapfile -t mounts < <(hugetlbfs_mounts)
	if [ ${#mounts[@]} -gt 0 ]; then
		while IFS= read -r file; do
			busy["$file"]=1
		done < <(files_in_use "${mounts[@]}" | sort -u)
		while IFS= read -r -d '' file; do
			if [ -n "${busy[$file]:-}" ]; then
				echo "Keeping $file (in use)"
				kept=$((kept + 1))
			else
				rm -f -- "$file"
				removed=$((removed + 1))
			fi
		done < <(find "${mounts[@]}" -maxdepth 1 -type f -name 'keel*' -print0 2> /dev/null)
	fi
	echo "Removed $removed leftover keel hugepage file(s), kept $kept in use."

	if ! echo 0 > "$SYS_HUGEPAGES/hugepages-${HUGEPAGE_KB}kB/nr_hugepages" 2> /dev/null; then
		echo 0 > "$NR_HUGEPAGES" 2> /dev/null || die "cannot write $NR_HUGEPAGES"
	fi
	left=$(pages_of_size "$HUGEPAGE_KB" nr_hugepages)
	echo "Released the 2 MiB hugepages; $left still in use."
}

case "${1:-config}" in
-h | --help | help) usage ;;
config) do_config ;;
status) do_status ;;
reset) do_reset ;;
*)
	echo "setup.sh: unknown command '$1'" >&2
	usage >&2
	exit 2
	;;
esac
