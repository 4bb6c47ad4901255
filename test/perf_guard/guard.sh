#!/usr/bin/env bash
# Regression guard on the cost of the data path: the instructions iscsi_tgt executes per 4 KiB
# random read and per 4 KiB random write, counted by valgrind's callgrind over a fixed number of
# I/Os after login, compared with the figures recorded in test/perf_guard/baseline.txt. A figure
# more than 10% above its record fails; one more than 10% below passes with a hint that the
# record can be lowered. Instruction counts do not depend on how busy the machine is.
#
# Usage: test/perf_guard/guard.sh [--record] [--runs N]
#   --record   measure (3 runs unless --runs says otherwise) and write the median figures into
#              test/perf_guard/baseline.txt; commit that file saying why the figures changed
#   --runs N   measure N times (each run is a fresh target) and compare the median
#   GUARD_LIMIT=pct   the allowed growth in percent (default 10)
#   GUARD_IOS=n       I/Os per measured phase (default 5000; two phases per workload)
#
# The target is the tree's own build (app/iscsi_tgt/iscsi_tgt); it must be a release build
# (./configure without --enable-debug and without sanitizers), else the guard says SKIP.
source "$(dirname "$0")/../common/autotest_common.sh"

guard_dir=$rootdir/test/perf_guard
baseline=$guard_dir/baseline.txt
record=0
runs=
limit=${GUARD_LIMIT:-10}
ios=${GUARD_IOS:-5000}
warmup_ios=2000
qd=32

while [ $# -gt 0 ]; do
	case $1 in
	--record)
		record=1
		;;
	--runs)
		runs=$2
		shift
		;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
		exit 0
		;;
	*)
		echo "unknown option $1"
		exit 2
		;;
	esac
	shift
done
if [ -z "$runs" ]; then
	runs=$((record ? 3 : 1))
fi

# skip REASON: the guard cannot measure here; not a failure of the tree (an error with --record).
skip() {
	echo "SKIP: instruction-count guard: $*"
	if [ $record -eq 1 ]; then
		exit 1
	fi
	exit 0
}

config_value() {
	sed -n "s/^$1=//p" "$rootdir/mk/config.mk" 2> /dev/null
}

compiler_id() {
	local cc
	cc=$(config_value CONFIG_CC)
	"${cc:-cc}" --version 2> /dev/null | head -n 1
}

command -v valgrind > /dev/null || skip "valgrind is not installed"
command -v callgrind_control > /dev/null || skip "callgrind_control is not installed"
[ -f /usr/include/iscsi/iscsi.h ] || skip "libiscsi-dev is not installed"
[ -x "$ISCSI_TGT" ] || skip "$ISCSI_TGT is not built"
for opt in DEBUG ASAN UBSAN COVERAGE FUZZER; do
	if [ "$(config_value CONFIG_$opt)" = y ]; then
		skip "the tree is configured with CONFIG_$opt=y;" \
			"the figures are those of a release build"
	fi
done

load=$TEST_TMP/iscsi_load
if ! cc -O2 -std=gnu11 -Wall -o "$load" "$rootdir/test/perf/iscsi_load.c" -liscsi \
	> "$TEST_TMP/cc.log" 2>&1; then
	cat "$TEST_TMP/cc.log"
	fail "the load generator (test/perf/iscsi_load.c) builds"
	finish
fi

# The initiator runs on another core than the target, at real-time priority when allowed, so
# that it always has the next commands queued: an initiator that falls behind leaves the target
# polling idle, and those instructions would count.
client=()
if [ "$(nproc)" -ge 2 ]; then
	client+=(taskset -c 1)
fi
if chrt -f 20 true 2> /dev/null; then
	client=(chrt -f 20 "${client[@]}")
else
	echo "note: cannot run the initiator at real-time priority; figures may vary more"
fi

# measure RUN: one fresh target under callgrind; sets fig_randread and fig_randwrite
# (instructions per I/O, the lower of two phases of $ios I/Os each). Returns non-zero on error.
measure() {
	local run=$1 port conf sock log out vpid line phase n k total per i
	local -A best=()

	port=$(free_port)
	conf=$TEST_TMP/guard$run.conf
	sock=$TEST_TMP/guard$run.sock
	log=$TEST_TMP/guard$run.log
	out=$TEST_TMP/callgrind$run.out
	cat > "$conf" << EOF
[Malloc]
  NumberOfLuns 1
  LunSizeInMB 16
  BlockSize 512
[PortalGroup1]
  Portal DA1 127.0.0.1:$port
[InitiatorGroup1]
  InitiatorName ANY
  Netmask 127.0.0.1/32
[TargetNode1]
  TargetName disk1
  Mapping PortalGroup1 InitiatorGroup1
  LUN0 Malloc0
  QueueDepth 64
EOF
	# Interrupt mode: an idle reactor sleeps after 200 us instead of polling (and counting)
	# while the script switches phases. Start-up runs uninstrumented (--instr-atstart=no).
	valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
		"$ISCSI_TGT" -c "$conf" -m 0x1 -r "$sock" --no-huge -s 256 --interrupt-mode \
		> "$log" 2>&1 &
	vpid=$!
	TGT_PIDS+=("$vpid")
	for ((i = 0; i < 600; i++)); do
		kill -0 "$vpid" 2> /dev/null || break
		[ -S "$sock" ] && break
		sleep 0.1
	done
	if ! [ -S "$sock" ] || ! rpc "$sock" -t 120 framework_wait_init > /dev/null 2>&1; then
		echo "iscsi_tgt did not start under callgrind:"
		tail -n 20 "$log"
		return 1
	fi

	coproc LOAD { "${client[@]}" "$load" -C -q "$qd" \
		"iscsi://127.0.0.1:$port/iqn.2016-06.io.spdk:disk1/0" 2>&1; }
	if ! read -r -t 120 line <&"${LOAD[0]}" || [ "$line" != ready ]; then
		echo "the load generator did not log in: $line"
		return 1
	fi
	# Warm-up: every code path runs once before the count starts.
	for phase in randread randwrite; do
		echo "$phase $warmup_ios" >&"${LOAD[1]}"
		read -r -t 300 line <&"${LOAD[0]}"
		[ "${line%% *}" = done ] || { echo "warm-up $phase: $line"; return 1; }
	done
	callgrind_control -i on "$vpid" > /dev/null 2>&1 || return 1
	k=0
	for phase in randread randwrite randread randwrite; do
		echo "$phase $ios" >&"${LOAD[1]}"
		read -r -t 300 line <&"${LOAD[0]}"
		set -- $line
		if [ "${1:-}" != done ] || [ "${2:-}" != "$ios" ]; then
			echo "$phase: the load generator answered '$line'"
			return 1
		fi
		# Each dump holds what was counted since the previous one and zeroes the counters.
		callgrind_control -d "$phase" "$vpid" > /dev/null 2>&1 || return 1
		k=$((k + 1))
		for ((i = 0; i < 100; i++)); do
			total=$(sed -n 's/^totals: *//p' "$out.$k" 2> /dev/null)
			[ -n "$total" ] && break
			sleep 0.1
		done
		if [ -z "$total" ]; then
			echo "no callgrind dump $out.$k"
			return 1
		fi
		per=$((total / ios))
		printf '  run %d, %-9s %d I/Os: %12d instructions, %6d per I/O (%.1f s)\n' "$run" \
			"$phase" "$ios" "$total" "$per" "$3"
		if [ -z "${best[$phase]:-}" ] || [ "$per" -lt "${best[$phase]}" ]; then
			best[$phase]=$per
		fi
	done
	callgrind_control -i off "$vpid" > /dev/null 2>&1
	echo quit >&"${LOAD[1]}"
	wait "$LOAD_PID" 2> /dev/null
	stop_tgt "$vpid" 60
	fig_randread=${best[randread]}
	fig_randwrite=${best[randwrite]}
	return 0
}

median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

start_s=$SECONDS
reads=()
writes=()
for ((r = 1; r <= runs; r++)); do
	if ! measure "$r"; then
		fail "iscsi_tgt runs $((2 * ios)) 4 KiB reads and writes under callgrind"
		finish
	fi
	reads+=("$fig_randread")
	writes+=("$fig_randwrite")
done
randread=$(median "${reads[@]}")
randwrite=$(median "${writes[@]}")
echo "instructions per I/O: 4 KiB random read $randread, 4 KiB random write $randwrite" \
	"($runs run(s), $((SECONDS - start_s)) s)"

if [ $record -eq 1 ]; then
	rev=$(cd "$rootdir" && git rev-parse --short HEAD 2> /dev/null)
	[ -n "$(cd "$rootdir" && git status --porcelain -- lib app include 2> /dev/null)" ] &&
		rev="$rev with local changes"
	cat > "$baseline" << EOF
# Instructions iscsi_tgt executes per I/O, counted by test/perf_guard/guard.sh (valgrind
# callgrind, release build, one reactor, 4 KiB random I/O at queue depth $qd on a malloc LUN of
# 512-byte blocks). The guard fails when a figure grows by more than ${limit}%.
# Change only on purpose: run test/perf_guard/guard.sh --record and commit this file with the
# reason in the message.
randread_4k $randread
randwrite_4k $randwrite
# recorded $(date -u +%Y-%m-%d) on $rev, the median of $runs runs
# runs: reads ${reads[*]}; writes ${writes[*]}
# compiler: $(compiler_id)
# $(valgrind --version)
EOF
	echo "recorded in ${baseline#"$rootdir"/}:"
	cat "$baseline"
	exit 0
fi

if [ ! -f "$baseline" ]; then
	fail "no recorded figures: run test/perf_guard/guard.sh --record"
	finish
fi
recorded_cc=$(sed -n 's/^# compiler: //p' "$baseline")
if [ -n "$recorded_cc" ] && [ "$recorded_cc" != "$(compiler_id)" ]; then
	echo "note: recorded with '$recorded_cc', this build uses '$(compiler_id)';" \
		"the figures may differ for that reason alone"
fi

# beyond VALUE RECORD FACTOR: true when VALUE > RECORD * FACTOR (FACTOR > 1) or
# VALUE < RECORD * FACTOR (FACTOR < 1).
beyond() {
	awk -v v="$1" -v r="$2" -v f="$3" 'BEGIN { exit !(f > 1 ? v > r * f : v < r * f) }'
}

# compare NAME VALUE KEY: PASS or FAIL against the recorded figure KEY.
compare() {
	local name=$1 value=$2 key=$3 rec pct
	rec=$(awk -v k="$key" '$1 == k { print $2 }' "$baseline")
	if [ -z "$rec" ]; then
		fail "$name: $value (no recorded figure $key in ${baseline#"$rootdir"/})"
		return
	fi
	pct=$(awk -v v="$value" -v r="$rec" 'BEGIN { printf "%+.1f", (v - r) * 100 / r }')
	if beyond "$value" "$rec" "$(awk -v l="$limit" 'BEGIN { print 1 + l / 100 }')"; then
		fail "$name: $value instructions per I/O, recorded $rec" \
			"($pct%, more than $limit% above)"
	else
		pass "$name: $value instructions per I/O, recorded $rec ($pct%)"
	fi
	if beyond "$value" "$rec" "$(awk -v l="$limit" 'BEGIN { print 1 - l / 100 }')"; then
		echo "hint: $name fell by more than $limit% ($pct%): the recorded figure can be" \
			"lowered with test/perf_guard/guard.sh --record, committing" \
			"test/perf_guard/baseline.txt with the reason"
	fi
}

compare "instructions per 4 KiB random read" "$randread" randread_4k
compare "instructions per 4 KiB random write" "$randwrite" randwrite_4k
finish
