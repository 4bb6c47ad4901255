#!/usr/bin/env bash
# Benchmark of the bdev layer: bdevperf, 4 KiB random reads, queue depth 128, one core (-m 0x1),
# 10 s, on a null bdev (the layer alone) and on a malloc bdev (the layer plus a memory copy).
# Builds a release copy of the working tree in a scratch directory (the checkout's own build is
# usually a debug one), prints IOPS, and writes the figures into doc/performance.md.
#
# Usage: test/perf/bdev.sh [--no-doc]
#   BDEVPERF=path   use this (release) bdevperf instead of building one
#   PERF_TIME=s     seconds per run (default 10)
#   PERF_RUNS=n     runs per bdev; the best is kept (default 3)
#   PERF_SOURCE=head  build the last commit (git archive HEAD) instead of the working tree
set -u

rootdir=$(cd "$(dirname "$0")/../.." && pwd)
doc=$rootdir/doc/performance.md
write_doc=1
[ "${1:-}" = --no-doc ] && write_doc=0
time_s=${PERF_TIME:-10}
runs=${PERF_RUNS:-3}
scratch=$(mktemp -d /tmp/keel-perf.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

build_release() {
	local src=$scratch/src libs l dir
	mkdir -p "$src"
	if [ "${PERF_SOURCE:-}" = head ]; then
		(cd "$rootdir" && git archive HEAD) | tar -xf - -C "$src" || return 1
	else
		(cd "$rootdir" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) |
			tar -xf - -C "$src" || return 1
	fi
	(cd "$src" && ./configure --disable-debug > /dev/null) || return 1
	# Only the libraries bdevperf links, so that unrelated work in progress cannot stop it.
	libs=$(make -s -C "$src/app/bdevperf" -f Makefile -f - print-libs <<< \
		'print-libs: ; @echo $(KEEL_LIBS)') || return 1
	for l in $libs; do
		case $l in
		bdev_*) dir=lib/bdev/${l#bdev_} ;;
		*) dir=lib/$l ;;
		esac
		make -s -j2 -C "$src/$dir" > /dev/null || return 1
	done
	make -s -C "$src/app/bdevperf" > /dev/null || return 1
	echo "$src/app/bdevperf/bdevperf"
}

if [ -n "${BDEVPERF:-}" ]; then
	bdevperf=$BDEVPERF
else
	echo "building a release bdevperf in $scratch ..."
	bdevperf=$(build_release) || {
		echo "release build failed"
		exit 1
	}
fi

# Hugepages when enough are free (the I/O pool alone takes about 60 MB), else ordinary memory.
free_mb=$(awk '/^HugePages_Free:/ { f = $2 } /^Hugepagesize:/ { s = $2 }
	END { print int(f * s / 1024) }' /proc/meminfo)
if [ "${free_mb:-0}" -ge 512 ]; then
	mem=()
	memory="hugepages"
else
	mem=(--no-huge -s 1024)
	memory="no hugepages (--no-huge)"
fi

cat > "$scratch/null.json" << 'EOF'
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 2097152, "block_size": 512}}]}]}
EOF
cat > "$scratch/malloc.json" << 'EOF'
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 32768, "block_size": 4096}}]}]}
EOF

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=()
for bdev in null malloc; do
	best=0
	for ((i = 0; i < runs; i++)); do
		out=$(timeout -k 5 $((time_s + 60)) "$bdevperf" "${mem[@]}" -r "$scratch/perf.sock" \
			--json "$scratch/$bdev.json" -m 0x1 -q 128 -o 4096 -w randread -t "$time_s" \
			2> "$scratch/err.log")
		rc=$?
		iops=$(echo "$out" | awk '/^Total / { split($0, a, ":"); split(a[2], f, " "); print f[1] }')
		if [ $rc -ne 0 ] || [ -z "$iops" ]; then
			echo "bdevperf on $bdev failed (exit $rc):"
			cat "$scratch/err.log"
			exit 1
		fi
		printf '%-7s run %d: %14.2f IOPS\n' "$bdev" $((i + 1)) "$iops"
		best=$(python3 -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' \
			"$best" "$iops")
	done
	results+=("$bdev $best")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

date=$(date -u +%Y-%m-%d)
rev=$(cd "$rootdir" && git rev-parse --short HEAD 2> /dev/null)
if [ -n "${BDEVPERF:-}" ]; then
	rev="(a bdevperf given by BDEVPERF, checkout at $rev)"
elif [ "${PERF_SOURCE:-}" != head ] && [ -n "$(cd "$rootdir" && git status --porcelain)" ]; then
	rev="$rev with local changes"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cores=$(nproc)
echo
for r in "${results[@]}"; do
	set -- $r
	printf '4 KiB randread qd 128, 1 core, %-6s: %14.0f IOPS  %6.1f ns per I/O\n' "$1" "$2" \
		"$(python3 -c "print(1e9 / $2)")"
done
echo "load average before/after: $load_before / $load_after"

[ $write_doc -eq 1 ] || exit 0
python3 - "$doc" "$date" "$rev" "$cpu" "$cores" "$memory" "$load_before" "$load_after" \
	"$time_s" "$runs" "${results[@]}" << 'EOF'
import os, sys, textwrap

doc, date, rev, cpu, cores, memory, load_before, load_after, time_s, runs = sys.argv[1:11]
results = [r.split() for r in sys.argv[11:]]
begin, end = "<!-- bdev-perf-begin -->", "<!-- bdev-perf-end -->"
rows = ["| Workload | bdev | IOPS | ns per I/O | Date |", "|---|---|---:|---:|---|"]
for bdev, iops in results:
    iops = float(iops)
    rows.append("| 4 KiB randread, queue depth 128, 1 core | %s | %s | %.1f | %s |"
                % (bdev, format(round(iops), ","), 1e9 / iops, date))
block = "\n".join([begin] + rows + [""] + textwrap.wrap(
    "Measured with `test/perf/bdev.sh` on revision %s: release build (`-O2`), %s, best of %s "
    "runs of %s s each. Machine: %s, %s cores, shared with other work (load average %s before, "
    "%s after)." % (rev, memory, runs, time_s, cpu, cores, load_before, load_after),
    100) + [end])
if os.path.exists(doc):
    text = open(doc).read()
else:
    text = "# Performance\n"
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## Block device layer\n\n" + block + "\n"
open(doc, "w").write(text)
print("figures written to", doc)
EOF
