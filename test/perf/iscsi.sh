#!/usr/bin/env bash
# Benchmark of the iSCSI target, side by side with Debian's tgtd on the same machine: six
# workloads (4 KiB random reads at queue depth 1 and 32, 128 KiB sequential reads, 4 KiB and
# 128 KiB sequential writes, 4 KiB random writes) on a 256 MiB RAM LUN of 512-byte blocks, the
# target on core 0 and the initiator on core 1, then a scaling run of 1 to 64 sessions on one and
# on two cores. Prints IOPS, MiB/s and the target's CPU time per I/O with keel/tgt ratios, and
# writes CSV files and SVG plots into doc/performance/ and the tables into doc/performance.md.
#
# Usage: test/perf/iscsi.sh [options]
#   --quick          3 s per run, one run, scaling runs of 2 s (a try-out, not figures to keep)
#   --time S         seconds per run (default 10)
#   --runs N         rounds of the workloads; the best IOPS and the lowest CPU per I/O are kept
#                    (default 3)
#   --scale-time S   seconds per scaling run (default: --time)
#   --sessions LIST  session counts of the scaling run (default "1 2 4 8 16 32 64")
#   --no-tgt         keel only
#   --no-interrupt   skip the workloads on keel in interrupt mode (--interrupt-mode)
#   --no-scaling     skip the scaling run
#   --no-hugepages   do not reserve hugepages (by default, as root, the script reserves what
#                    keel needs for the run and gives back what it reserved at the end)
#   --no-doc         print only; write nothing into doc/
#   ISCSI_TGT=path     use this (release) iscsi_tgt instead of building one
#   PERF_SOURCE=head   build the last commit (git archive HEAD) instead of the working tree
#
# Needs: libiscsi-bin (iscsi-perf), libiscsi-dev, qemu-utils with qemu-block-extra (iscsi://),
# tgt, gnuplot, at least two cores. keel runs polling (its default); its CPU per I/O is the
# reactors' busy time (framework_get_reactors) over the I/Os the bdev completed
# (bdev_get_iostat). tgtd's is its user+system time (/proc/<pid>/stat) over the I/Os the
# initiator reported.
set -u

rootdir=$(cd "$(dirname "$0")/../.." && pwd)
doc=$rootdir/doc/performance.md
outdir=$rootdir/doc/performance
time_s=10
runs=3
scale_time=
sessions="1 2 4 8 16 32 64"
scale_qd=4
with_tgt=1
with_interrupt=1
with_scaling=1
reserve_huge=1
write_doc=1
quick=0
iqn=iqn.2016-06.io.spdk:disk1

while [ $# -gt 0 ]; do
	case $1 in
	--quick)
		quick=1
		time_s=3
		runs=1
		scale_time=2
		;;
	--time)
		time_s=$2
		shift
		;;
	--runs)
		runs=$2
		shift
		;;
	--scale-time)
		scale_time=$2
		shift
		;;
	--sessions)
		sessions=$2
		shift
		;;
	--no-tgt) with_tgt=0 ;;
	--no-interrupt) with_interrupt=0 ;;
	--no-scaling) with_scaling=0 ;;
	--no-hugepages) reserve_huge=0 ;;
	--no-doc) write_doc=0 ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
		exit 0
		;;
	*)
		echo "unknown option $1 (see --help)"
		exit 2
		;;
	esac
	shift
done
scale_time=${scale_time:-$time_s}

if [ "$(nproc)" -lt 2 ]; then
	echo "this benchmark needs two cores (target on core 0, initiator on core 1)"
	exit 1
fi
for tool in iscsi-perf qemu-img gnuplot cc; do
	command -v $tool > /dev/null || {
		echo "$tool is missing (scripts/pkgdep.sh installs it)"
		exit 1
	}
done
if [ $with_tgt -eq 1 ] && ! command -v tgtd > /dev/null; then
	echo "tgtd is missing (Debian's tgt); use --no-tgt to measure keel alone"
	exit 1
fi

scratch=$(mktemp -d /tmp/keel-perf.XXXXXX)
PIDS=()
huge_before=
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2> /dev/null; then
			kill -TERM "$pid" 2> /dev/null
			sleep 2
			kill -0 "$pid" 2> /dev/null && kill -KILL "$pid" 2> /dev/null
		fi
	done
	rm -f "/dev/shm/keel-perf-$$.img"
	rm -rf "$scratch"
	if [ -n "$huge_before" ]; then
		echo "$huge_before" > /proc/sys/vm/nr_hugepages
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
	# Only the libraries iscsi_tgt links, so that unrelated work in progress cannot stop it.
	libs=$(make -s -C "$src/app/iscsi_tgt" -f Makefile -f - print-libs <<< \
		'print-libs: ; @echo $(KEEL_LIBS)') || return 1
	for l in $libs; do
		case $l in
		bdev_*) dir=lib/bdev/${l#bdev_} ;;
		*) dir=lib/$l ;;
		esac
		make -s -j2 -C "$src/$dir" > /dev/null || return 1
	done
	make -s -C "$src/app/iscsi_tgt" > /dev/null || return 1
	echo "$src/app/iscsi_tgt/iscsi_tgt"
}

if [ -n "${ISCSI_TGT:-}" ]; then
	iscsi_tgt=$ISCSI_TGT
else
	echo "building a release iscsi_tgt in $scratch ..."
	iscsi_tgt=$(build_release) || {
		echo "release build failed"
		exit 1
	}
fi
load=$scratch/iscsi_load
if ! cc -O2 -std=gnu11 -Wall -o "$load" "$rootdir/test/perf/iscsi_load.c" -liscsi; then
	echo "cannot build test/perf/iscsi_load.c (libiscsi-dev missing?)"
	exit 1
fi
stream=$scratch/tcp_stream
if ! cc -O2 -std=gnu11 -Wall -o "$stream" "$rootdir/test/perf/tcp_stream.c" -lpthread; then
	echo "cannot build test/perf/tcp_stream.c"
	exit 1
fi

# Hugepages, as DPDK is meant to run: 2 MiB pages for keel's 1 GiB of memory, reserved here for
# the run when too few are free (and given back at the end); ordinary memory (--no-huge) when
# they cannot be had.
huge_free_mb() {
	awk '/^HugePages_Free:/ { f = $2 } /^Hugepagesize:/ { s = $2 }
	END { print int(f * s / 1024) }' /proc/meminfo
}
if [ $reserve_huge -eq 1 ] && [ "$(huge_free_mb)" -lt 1536 ] && [ -w /proc/sys/vm/nr_hugepages ] &&
	grep -q '^Hugepagesize: *2048 kB' /proc/meminfo; then
	huge_before=$(cat /proc/sys/vm/nr_hugepages)
	echo $((huge_before + 768 - $(huge_free_mb) / 2)) > /proc/sys/vm/nr_hugepages
fi
free_mb=$(awk '/^HugePages_Free:/ { f = $2 } /^Hugepagesize:/ { s = $2 }
	END { print int(f * s / 1024) }' /proc/meminfo)
if [ "${free_mb:-0}" -ge 1536 ]; then
	mem=(-s 1024)
	memory="hugepages"
else
	mem=(--no-huge -s 1024)
	memory="no hugepages (--no-huge -s 1024)"
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1]); s.close()'
}

rpc() {
	python3 "$rootdir/scripts/rpc.py" -s "$scratch/keel.sock" -t 60 "$@"
}

# ---- the targets: start TARGET CORES, stop; set PORT, LUN, TPID --------------------------

keel_start() { # MASK [extra iscsi_tgt options]
	local mask=$1 i
	shift
	PORT=$(free_port)
	LUN=0
	cat > "$scratch/keel.conf" << EOF
[Malloc]
  NumberOfLuns 1
  LunSizeInMB 256
  BlockSize 512
[PortalGroup1]
  Portal DA1 127.0.0.1:$PORT
[InitiatorGroup1]
  InitiatorName ANY
  Netmask 127.0.0.1/32
[TargetNode1]
  TargetName disk1
  Mapping PortalGroup1 InitiatorGroup1
  LUN0 Malloc0
  QueueDepth 128
EOF
	rm -f "$scratch/keel.sock"
	"$iscsi_tgt" -c "$scratch/keel.conf" -m "$mask" -r "$scratch/keel.sock" "${mem[@]}" "$@" \
		> "$scratch/keel.log" 2>&1 &
	TPID=$!
	PIDS+=("$TPID")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$TPID" 2> /dev/null || break
		[ -S "$scratch/keel.sock" ] && break
		sleep 0.1
	done
	if ! rpc framework_wait_init > /dev/null 2>&1; then
		echo "iscsi_tgt did not start:"
		tail -n 20 "$scratch/keel.log"
		return 1
	fi
}

tgt_ctl=
tgt_start() {
	local cpus=$1 i
	PORT=$(free_port)
	LUN=1 # tgtd's LUN 0 is its controller
	for ((i = 0; i < 100; i++)); do
		tgt_ctl=$((7000 + RANDOM % 2000))
		[ -e "/var/run/tgtd/socket.$tgt_ctl" ] || break
	done
	rm -f "/dev/shm/keel-perf-$$.img"
	truncate -s 256M "/dev/shm/keel-perf-$$.img" || return 1
	taskset -c "$cpus" tgtd -f -C "$tgt_ctl" --iscsi "portal=127.0.0.1:$PORT" \
		> "$scratch/tgtd.log" 2>&1 &
	TPID=$!
	PIDS+=("$TPID")
	for ((i = 0; i < 100; i++)); do
		tgtadm -C "$tgt_ctl" --lld iscsi --mode target --op show > /dev/null 2>&1 && break
		sleep 0.1
	done
	tgtadm -C "$tgt_ctl" --lld iscsi --mode target --op new --tid 1 --targetname "$iqn" &&
		tgtadm -C "$tgt_ctl" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 \
			--backing-store "/dev/shm/keel-perf-$$.img" --bstype rdwr --blocksize 512 &&
		tgtadm -C "$tgt_ctl" --lld iscsi --mode target --op bind --tid 1 \
			--initiator-address ALL || {
		echo "tgtd did not start:"
		tail -n 20 "$scratch/tgtd.log"
		return 1
	}
}

target_stop() {
	local i
	kill -TERM "$TPID" 2> /dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$TPID" 2> /dev/null || break
		sleep 0.05
	done
	kill -KILL "$TPID" 2> /dev/null
	wait "$TPID" 2> /dev/null
	rm -f "/dev/shm/keel-perf-$$.img"
}

# sample TARGET: "<cpu seconds> <I/Os completed or -> <wall seconds>" of the running target.
sample() {
	local wall
	wall=$(date +%s.%N)
	if [ "$1" != tgt ]; then
		local reactors iostat
		reactors=$(rpc framework_get_reactors) || return 1
		iostat=$(rpc bdev_get_iostat -b Malloc0) || return 1
		python3 -c '
import json, sys
r = json.loads(sys.argv[1]); s = json.loads(sys.argv[2])["bdevs"][0]
busy = sum(x["busy"] for x in r["reactors"]) / r["tick_rate"]
print("%.6f %d %s" % (busy, s["num_read_ops"] + s["num_write_ops"], sys.argv[3]))' \
			"$reactors" "$iostat" "$wall"
	else
		awk -v hz="$(getconf CLK_TCK)" -v w="$wall" \
			'{ printf "%.6f - %s\n", ($14 + $15) / hz, w }' "/proc/$TPID/stat"
	fi
}

# ---- the workloads ------------------------------------------------------------------------
# name|label|tool|queue depth|bytes|pattern|SPDK IOPS|SPDK target CPU per I/O (us)
workloads=(
	"randread_4k_qd1|4 KiB random read, QD1|iscsi-perf|1|4096|randread|27300|"
	"randread_4k_qd32|4 KiB random read, QD32|iscsi-perf|32|4096|randread|124500|3.7"
	"read_128k_qd8|128 KiB sequential read, QD8|iscsi-perf|8|131072|read|32000|24.6"
	"write_4k_qd32|4 KiB sequential write, QD32|qemu-img|32|4096|write|83300|8.7"
	"write_128k_qd8|128 KiB sequential write, QD8|qemu-img|8|131072|write|21000|42.9"
	"randwrite_4k_qd32|4 KiB random write, QD32|iscsi_load|32|4096|randwrite||"
)

declare -A qemu_count=()

# run_tool NAME TOOL QD BYTES PATTERN SECONDS: run one initiator (on core 1) against PORT/LUN;
# prints "<IOPS> <I/Os>" (I/Os as the initiator counts them).
run_tool() {
	local name=$1 tool=$2 qd=$3 bytes=$4 pattern=$5 secs=$6 out iops count t opts
	local url="iscsi://127.0.0.1:$PORT/$iqn/$LUN"
	local pin=(taskset -c 1)
	case $tool in
	iscsi-perf)
		local rnd=()
		[ "$pattern" = randread ] && rnd=(-r)
		# iscsi-perf prints its running average once a second; stop it just after one.
		t=$(awk -v s="$secs" 'BEGIN { print s + 0.5 }')
		out=$(timeout -s INT "$t" "${pin[@]}" iscsi-perf -m "$qd" -b $((bytes / 512)) \
			"${rnd[@]}" "$url" 2>&1 | tr '\r' '\n')
		iops=$(echo "$out" | sed -n 's/.*iops average \([0-9]*\).*/\1/p' | tail -n 1)
		t=$(echo "$out" | sed -n 's/^\([0-9]*\):\([0-9]*\):\([0-9]*\) - .*/\1 \2 \3/p' |
			tail -n 1 | awk '{ print $1 * 3600 + $2 * 60 + $3 }')
		[ -n "$iops" ] && [ -n "$t" ] || {
			echo "iscsi-perf failed: $(echo "$out" | tail -n 3)" >&2
			return 1
		}
		echo "$iops $((iops * t))"
		;;
	qemu-img)
		# qemu-img bench runs a count, not a time: the first run of a workload on a target
		# calibrates the count.
		count=${qemu_count[$name]:-$((bytes > 4096 ? 4000 : 20000))}
		opts="driver=iscsi,transport=tcp,portal=127.0.0.1:$PORT,target=$iqn,lun=$LUN"
		out=$("${pin[@]}" qemu-img bench -w -d "$qd" -s "$bytes" -t none -c "$count" \
			--image-opts "$opts" 2>&1)
		t=$(echo "$out" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
		[ -n "$t" ] || {
			echo "qemu-img bench failed: $out" >&2
			return 1
		}
		iops=$(awk -v c="$count" -v t="$t" 'BEGIN { printf "%.0f", c / t }')
		qemu_count[$name]=$(awk -v i="$iops" -v s="$secs" \
			'BEGIN { c = int(i * s); print c < 1000 ? 1000 : c }')
		echo "$iops $count"
		;;
	iscsi_load)
		out=$("${pin[@]}" "$load" -w "$pattern" -q "$qd" -o "$bytes" -t "$secs" "$url" 2>&1)
		iops=$(echo "$out" | sed -n 's/^RESULT .*iops=\([0-9.]*\).*/\1/p')
		count=$(echo "$out" | sed -n 's/^RESULT ios=\([0-9]*\).*/\1/p')
		[ -n "$iops" ] || {
			echo "iscsi_load failed: $out" >&2
			return 1
		}
		echo "${iops%.*} $count"
		;;
	esac
}

# measure TARGET NAME CMD...: sample, run CMD (which prints "<IOPS> <I/Os>"), sample again;
# prints "<IOPS> <CPU us per I/O>".
measure() {
	local target=$1 before after res
	shift
	before=$(sample "$target") || return 1
	res=$("$@") || return 1
	after=$(sample "$target") || return 1
	python3 -c '
import sys
b, a, r = (s.split() for s in sys.argv[1:4])
iops, ios = float(r[0]), float(r[1])
cpu = float(a[0]) - float(b[0])
if b[1] != "-":
    ios = float(a[1]) - float(b[1])
print("%.0f %.2f" % (iops, cpu / ios * 1e6 if ios > 0 else 0))' "$before" "$after" "$res"
}

# best KEY IOPS CPU: keep the best IOPS and the lowest CPU per I/O of KEY.
declare -A best_iops=() best_cpu=()
best() {
	local key=$1 iops=$2 cpu=$3
	if [ -z "${best_iops[$key]:-}" ] || [ "$iops" -gt "${best_iops[$key]}" ]; then
		best_iops[$key]=$iops
	fi
	if [ -z "${best_cpu[$key]:-}" ] || awk -v a="$cpu" -v b="${best_cpu[$key]}" \
		'BEGIN { exit !(a < b) }'; then
		best_cpu[$key]=$cpu
	fi
}

targets=(keel)
[ $with_tgt -eq 1 ] && targets+=(tgt)
scale_targets=("${targets[@]}")
# keeli: keel in interrupt mode (idle reactors sleep), same workloads.
[ $with_interrupt -eq 1 ] && targets+=(keeli)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_s=$SECONDS

# The ceiling the large reads are compared with: one TCP stream over loopback, core 0 to core
# 1, 1 MiB writes from 256 MiB of memory (as a RAM disk is read) and from 1 MiB (cached).
stream_gbs() { # REGION BYTES
	"$stream" -s "$(awk -v t="$time_s" 'BEGIN { print t < 5 ? t : 5 }')" -b 1048576 -r "$1" |
		sed -n 's/.*(\([0-9.]*\) GB\/s).*/\1/p'
}
stream_mem=$(stream_gbs 268435456)
stream_cache=$(stream_gbs 1048576)
echo "== loopback, one TCP stream: ${stream_mem:-?} GB/s from memory, ${stream_cache:-?} GB/s from cache"

echo "== workloads: ${#targets[@]} target(s), $runs round(s) of $time_s s per workload"
mib_s() { # IOPS BYTES
	awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1048576 }'
}

# workloads_on TARGET ROUND: start TARGET on core 0, run every workload once, stop it.
workloads_on() {
	local target=$1 round=$2 w name label tool qd bytes pattern key res iops cpu
	case $target in
	keel) keel_start 0x1 || return 1 ;;
	keeli) keel_start 0x1 --interrupt-mode || return 1 ;;
	*) tgt_start 0 || return 1 ;;
	esac
	for w in "${workloads[@]}"; do
		IFS='|' read -r name label tool qd bytes pattern _ _ <<< "$w"
		key=$target/$name
		if [ "$tool" = qemu-img ] && [ -z "${qemu_count[$key]:-}" ]; then
			run_tool "$key" "$tool" "$qd" "$bytes" "$pattern" 1 > /dev/null || return 1
		fi
		res=$(measure "$target" run_tool "$key" "$tool" "$qd" "$bytes" "$pattern" \
			"$time_s") || return 1
		read -r iops cpu <<< "$res"
		printf '  round %d %-5s %-30s %9d IOPS %9s MiB/s %8.2f us CPU per I/O\n' "$round" \
			"$target" "$label" "$iops" "$(mib_s "$iops" "$bytes")" "$cpu"
		best "$key" "$iops" "$cpu"
	done
	target_stop
}

for ((round = 1; round <= runs; round++)); do
	for target in "${targets[@]}"; do
		workloads_on "$target" "$round" || exit 1
	done
done

# Scaling: N sessions of 4 KiB random reads, $scale_qd commands in flight each, with the target
# on one core (initiator on core 1) and on two (-m 0x3 / tgtd on cores 0-1, initiator unpinned
# and sharing them).
declare -A scale=()

# scale_run CORES SESSIONS: iscsi_load's random reads; prints "<IOPS> <I/Os>".
scale_run() {
	local cores=$1 n=$2 out pin=()
	[ "$cores" = 1 ] && pin=(taskset -c 1)
	out=$("${pin[@]}" "$load" -w randread -q "$scale_qd" -s "$n" -t "$scale_time" \
		"iscsi://127.0.0.1:$PORT/$iqn/$LUN" 2>&1) || {
		echo "iscsi_load failed: $out" >&2
		return 1
	}
	echo "$out" | sed -n 's/^RESULT ios=\([0-9]*\) .*iops=\([0-9]*\).*/\2 \1/p'
}

# scaling_on TARGET CORES: start TARGET on 1 or 2 cores, run every session count, stop it.
scaling_on() {
	local target=$1 cores=$2 n res iops cpu
	if [ "$target" = keel ]; then
		keel_start "$([ "$cores" = 1 ] && echo 0x1 || echo 0x3)" || return 1
	else
		tgt_start "$([ "$cores" = 1 ] && echo 0 || echo 0-1)" || return 1
	fi
	for n in $sessions; do
		res=$(measure "$target" scale_run "$cores" "$n") || return 1
		read -r iops cpu <<< "$res"
		printf '  %-4s %d core(s) %3d session(s): %9d IOPS %8.2f us CPU per I/O\n' \
			"$target" "$cores" "$n" "$iops" "$cpu"
		scale[$target/$cores/$n]="$iops $cpu"
	done
	target_stop
}

if [ $with_scaling -eq 1 ]; then
	echo "== scaling: sessions $sessions, $scale_qd in flight each, $scale_time s per run"
	for cores in 1 2; do
		for target in "${scale_targets[@]}"; do
			scaling_on "$target" "$cores" || exit 1
		done
	done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - start_s))

# ---- results ------------------------------------------------------------------------------
date=$(date -u +%Y-%m-%d)
rev=$(cd "$rootdir" && git rev-parse --short HEAD 2> /dev/null)
if [ -n "${ISCSI_TGT:-}" ]; then
	rev="(an iscsi_tgt given by ISCSI_TGT, checkout at $rev)"
elif [ "${PERF_SOURCE:-}" != head ] && [ -n "$(cd "$rootdir" && git status --porcelain)" ]; then
	rev="$rev with local changes"
fi
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
tgt_version="tgtd $(tgtd --version 2> /dev/null | head -n 1)"

results=$scratch/iscsi.csv
echo "workload,label,target,iops,mib_s,cpu_us_per_io,spdk_iops,spdk_cpu_us_per_io" > "$results"
for w in "${workloads[@]}"; do
	IFS='|' read -r name label tool qd bytes pattern spdk_iops spdk_cpu <<< "$w"
	for target in "${targets[@]}"; do
		iops=${best_iops[$target/$name]}
		printf '%s,"%s",%s,%d,%s,%.2f,%s,%s\n' "$name" "$label" "$target" "$iops" \
			"$(mib_s "$iops" "$bytes")" "${best_cpu[$target/$name]}" "$spdk_iops" \
			"$spdk_cpu" >> "$results"
	done
done
scaling=$scratch/iscsi_scaling.csv
echo "target,cores,sessions,qd_per_session,iops,mib_s,cpu_us_per_io" > "$scaling"
for cores in 1 2; do
	for target in "${scale_targets[@]}"; do
		for n in $sessions; do
			[ -n "${scale[$target/$cores/$n]:-}" ] || continue
			read -r iops cpu <<< "${scale[$target/$cores/$n]}"
			echo "$target,$cores,$n,$scale_qd,$iops,$(mib_s "$iops" 4096),$cpu" \
				>> "$scaling"
		done
	done
done

echo
python3 - "$results" << 'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {(r["workload"], r["target"]): r for r in rows}
names = list(dict.fromkeys(r["workload"] for r in rows))
head = "%-30s %10s %9s %8s" % ("workload", "keel IOPS", "MiB/s", "us/IO")
if any(r["target"] == "tgt" for r in rows):
    head += " | %10s %9s %8s | %6s %6s" % ("tgt IOPS", "MiB/s", "us/IO", "IOPS x", "CPU x")
print(head)
for n in names:
    k, t = by.get((n, "keel")), by.get((n, "tgt"))
    line = "%-30s %10s %9s %8s" % (k["label"], k["iops"], k["mib_s"], k["cpu_us_per_io"])
    if t:
        ri = float(k["iops"]) / float(t["iops"]) if float(t["iops"]) else 0
        rc = (float(k["cpu_us_per_io"]) / float(t["cpu_us_per_io"])
              if float(t["cpu_us_per_io"]) else 0)
        line += " | %10s %9s %8s | %6.2f %6.2f" % (t["iops"], t["mib_s"], t["cpu_us_per_io"],
                                                    ri, rc)
    print(line)
print("(IOPS x: keel/tgt, higher is better; CPU x: keel/tgt CPU per I/O, lower is better)")
if any(r["target"] == "keeli" for r in rows):
    print()
    print("%-30s %10s %8s | %10s %8s | %6s" % ("keel, interrupt mode", "IOPS", "us/IO",
                                            "polling", "us/IO", "IOPS x"))
    for n in names:
        k, i = by[(n, "keel")], by.get((n, "keeli"))
        if i:
            print("%-30s %10s %8s | %10s %8s | %6.2f" % (
                i["label"], i["iops"], i["cpu_us_per_io"], k["iops"], k["cpu_us_per_io"],
                float(i["iops"]) / float(k["iops"]) if float(k["iops"]) else 0))
    print("(IOPS x: interrupt mode/polling)")
EOF
echo "load average before/after: $load_before / $load_after; $elapsed s"

if [ $write_doc -eq 0 ]; then
	exit 0
fi

# ---- doc/performance/: CSV, plots; doc/performance.md: the tables --------------------------
mkdir -p "$outdir"
cp "$results" "$outdir/iscsi.csv"
if [ $with_scaling -eq 1 ]; then
	cp "$scaling" "$outdir/iscsi_scaling.csv"
fi

# gnuplot data: one row per workload, columns keel, tgt and SPDK ("-" where there is none).
python3 - "$results" "$scratch" << 'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = list(dict.fromkeys(r["workload"] for r in rows))
by = {(r["workload"], r["target"]): r for r in rows}
for col, spdk, path in (("iops", "spdk_iops", "iops.dat"),
                        ("cpu_us_per_io", "spdk_cpu_us_per_io", "cpu.dat")):
    with open(sys.argv[2] + "/" + path, "w") as f:
        for n in names:
            k = by[(n, "keel")]
            t = by.get((n, "tgt"))
            f.write('"%s" %s %s %s\n' % (k["label"].replace(", ", "\\n"), k[col],
                                         t[col] if t else "-", k[spdk] or "-"))
EOF
plot_common='set terminal svg size 900,480 dynamic font "sans,11" background rgb "white"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set xtics scale 0 font "sans,10"
set bmargin 5
set yrange [0:*]'
gnuplot << EOF
$plot_common
set output "$outdir/iscsi_iops.svg"
set title "iSCSI target IOPS, target on one core, initiator on another (higher is better)"
set ylabel "IOPS"
set format y "%.0s%c"
plot "$scratch/iops.dat" using 2:xtic(1) title "keel" lc rgb "#1f77b4", \
	"" using 3 title "$tgt_version" lc rgb "#ff7f0e", \
	"" using 4 title "SPDK v24.09 (reference)" lc rgb "#9a9a9a"
set output "$outdir/iscsi_cpu.svg"
set title "Target CPU time per I/O (lower is better)"
set ylabel "microseconds"
set format y "%g"
plot "$scratch/cpu.dat" using 2:xtic(1) title "keel (reactor busy time)" lc rgb "#1f77b4", \
	"" using 3 title "tgt (process CPU time)" lc rgb "#ff7f0e", \
	"" using 4 title "SPDK v24.09 (reference)" lc rgb "#9a9a9a"
EOF
if [ $with_scaling -eq 1 ]; then
	for cores in 1 2; do
		for target in "${scale_targets[@]}"; do
			awk -F, -v t="$target" -v c="$cores" \
				'$1 == t && $2 == c { print $3, $5, $7 }' "$scaling" \
				> "$scratch/scale_${target}_$cores.dat"
		done
	done
	# series COLUMN: the plot clauses of every target and core count.
	series() {
		local col=$1 target cores color dash s=""
		for target in "${scale_targets[@]}"; do
			color="#1f77b4"
			[ "$target" = tgt ] && color="#ff7f0e"
			for cores in 1 2; do
				dash=1
				[ $cores = 2 ] && dash=2
				[ -n "$s" ] && s+=", "
				s+="\"$scratch/scale_${target}_$cores.dat\" using 1:$col"
				s+=" with linespoints lw 2 pt 7"
				s+=" dt $dash lc rgb \"$color\" title \"$target, $cores core"
				[ $cores = 2 ] && s+="s (initiator shares them)"
				s+="\""
			done
		done
		echo "$s"
	}
	gnuplot << EOF
set terminal svg size 900,480 dynamic font "sans,11" background rgb "white"
set key top left
set grid
set logscale x 2
set xlabel "sessions ($scale_qd commands in flight each), 4 KiB random reads"
set yrange [0:*]
set output "$outdir/iscsi_scaling.svg"
set title "IOPS by number of sessions (higher is better)"
set ylabel "IOPS"
set format y "%.0s%c"
plot $(series 2)
set output "$outdir/iscsi_scaling_cpu.svg"
set title "Target CPU time per I/O by number of sessions (lower is better)"
set ylabel "microseconds"
set format y "%g"
plot $(series 3)
EOF
fi

mode="best of $runs rounds of $time_s s"
[ $quick -eq 1 ] && mode="quick mode: one round of $time_s s, scaling runs of $scale_time s"
python3 - "$doc" "$results" "$scaling" "$with_scaling" "$date" "$rev" "$cpu_model" "$(nproc)" \
	"$memory" "$mode" "$load_before" "$load_after" "$tgt_version" "$scale_qd" "$stream_mem" \
	"$stream_cache" << 'EOF'
import csv, os, sys, textwrap

(doc, results, scaling, with_scaling, date, rev, cpu, cores, memory, mode, load_before,
 load_after, tgt_version, scale_qd, stream_mem, stream_cache) = sys.argv[1:17]
rows = list(csv.DictReader(open(results)))
by = {(r["workload"], r["target"]): r for r in rows}
names = list(dict.fromkeys(r["workload"] for r in rows))
has_tgt = any(r["target"] == "tgt" for r in rows)

def wrap(text):
    # Wrap at 100 columns without breaking inside a `code span`.
    parts = text.split("`")
    for i in range(1, len(parts), 2):
        parts[i] = parts[i].replace(" ", "\x00")
    return [line.replace("\x00", " ") for line in
            textwrap.wrap("`".join(parts), 100, break_on_hyphens=False)]

def num(v, fmt="{:,.0f}"):
    return fmt.format(float(v)) if v not in ("", None) else "—"

head = "| Workload | keel IOPS | keel MiB/s | keel CPU/I/O (µs) |"
sep = "|---|---:|---:|---:|"
if has_tgt:
    head += " tgt IOPS | tgt CPU/I/O (µs) | IOPS keel/tgt | CPU keel/tgt |"
    sep += "---:|---:|---:|---:|"
head += " SPDK IOPS | SPDK CPU/I/O (µs) |"
sep += "---:|---:|"
lines = [head, sep]
for n in names:
    k = by[(n, "keel")]
    line = "| %s | %s | %s | %s |" % (k["label"], num(k["iops"]), num(k["mib_s"], "{:,.1f}"),
                                      num(k["cpu_us_per_io"], "{:.2f}"))
    t = by.get((n, "tgt"))
    if has_tgt and t:
        ri = float(k["iops"]) / float(t["iops"]) if float(t["iops"]) else 0
        rc = (float(k["cpu_us_per_io"]) / float(t["cpu_us_per_io"])
              if float(t["cpu_us_per_io"]) else 0)
        line += " %s | %s | %.2f | %.2f |" % (num(t["iops"]), num(t["cpu_us_per_io"], "{:.2f}"),
                                             ri, rc)
    line += " %s | %s |" % (num(k["spdk_iops"]), num(k["spdk_cpu_us_per_io"], "{:.1f}"))
    lines.append(line)
note = ("Measured with `test/perf/iscsi.sh` on revision %s (%s), %s: release build, %s; keel "
        "`-m 0x1` polling, %s pinned to core 0, initiators on core 1. Machine: %s, %s cores, "
        "shared with other work (load average %s before, %s after). SPDK's figures are the "
        "reference taken on a machine like this one, not measured here."
        % (rev, date, mode, memory, tgt_version or "tgtd", cpu, cores, load_before, load_after))
if stream_mem and stream_cache:
    note += (" One TCP stream over loopback from core 0 to core 1 carried %s GB/s in the same run "
             "(1 MiB writes from 256 MiB of memory; %s GB/s from 1 MiB that stays in the cache; "
             "`test/perf/tcp_stream.c`)." % (stream_mem, stream_cache))
block = ["<!-- iscsi-perf-begin -->"] + lines + [""] + wrap(note) + [
    "", "![IOPS per workload](performance/iscsi_iops.svg)",
    "", "![Target CPU time per I/O](performance/iscsi_cpu.svg)", "<!-- iscsi-perf-end -->"]

iblock = None
if any(r["target"] == "keeli" for r in rows):
    ilines = ["| Workload | polling IOPS | polling CPU/I/O (µs) | interrupt mode IOPS | "
              "interrupt mode CPU/I/O (µs) | IOPS interrupt/polling |",
              "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        k, i = by[(n, "keel")], by.get((n, "keeli"))
        if not i:
            continue
        ilines.append("| %s | %s | %s | %s | %s | %.2f |" % (
            k["label"], num(k["iops"]), num(k["cpu_us_per_io"], "{:.2f}"), num(i["iops"]),
            num(i["cpu_us_per_io"], "{:.2f}"),
            float(i["iops"]) / float(k["iops"]) if float(k["iops"]) else 0))
    inote = ("keel with `--interrupt-mode` (an idle reactor sleeps in epoll until a socket or "
             "a timer wakes it) against keel polling, same run and workloads as above; CPU per "
             "I/O is the reactor's busy time in both.")
    iblock = ["<!-- iscsi-interrupt-begin -->"] + ilines + [""] + wrap(inote) + [
        "<!-- iscsi-interrupt-end -->"]

sblock = None
if with_scaling == "1":
    srows = list(csv.DictReader(open(scaling)))
    targets = list(dict.fromkeys(r["target"] for r in srows))
    sessions = list(dict.fromkeys(r["sessions"] for r in srows))
    sby = {(r["target"], r["cores"], r["sessions"]): r for r in srows}
    cols = [(t, c) for c in ("1", "2") for t in targets]
    head = "| Sessions | " + " | ".join("%s, %s core%s" % (t, c, "" if c == "1" else "s")
                                        for t, c in cols) + " |"
    sep = "|---:|" + "---:|" * len(cols)
    slines = [head, sep]
    for s in sessions:
        cells = []
        for t, c in cols:
            r = sby.get((t, c, s))
            cells.append("%s (%s µs)" % (num(r["iops"]), num(r["cpu_us_per_io"], "{:.2f}"))
                         if r else "—")
        slines.append("| %s | %s |" % (s, " | ".join(cells)))
    snote = ("IOPS (target CPU time per I/O) of 4 KiB random reads, %s commands in flight per "
             "session, same run as above. On two cores the initiator is not pinned and shares "
             "them with the target." % scale_qd)
    sblock = ["<!-- iscsi-scaling-begin -->"] + slines + [""] + wrap(snote) + [
        "", "![IOPS by sessions](performance/iscsi_scaling.svg)",
        "", "![CPU per I/O by sessions](performance/iscsi_scaling_cpu.svg)",
        "<!-- iscsi-scaling-end -->"]

text = open(doc).read() if os.path.exists(doc) else "# Performance\n"

def put(text, block, begin, end, heading):
    body = "\n".join(block)
    if begin in text and end in text:
        return text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    return text.rstrip("\n") + "\n\n" + heading + "\n\n" + body + "\n"

text = put(text, block, "<!-- iscsi-perf-begin -->", "<!-- iscsi-perf-end -->",
           "## iSCSI target")
if iblock:
    text = put(text, iblock, "<!-- iscsi-interrupt-begin -->", "<!-- iscsi-interrupt-end -->",
               "### Interrupt mode")
if sblock:
    text = put(text, sblock, "<!-- iscsi-scaling-begin -->", "<!-- iscsi-scaling-end -->",
               "### Sessions")
open(doc, "w").write(text)
print("figures written to", doc, "and", os.path.dirname(doc) + "/performance/")
EOF
