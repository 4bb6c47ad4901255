#!/usr/bin/env bash
# bdevperf end to end: verify on every bdev module (malloc, null with reads only, aio and uring
# on files), a spoiled read caught by verify, the reset, unmap, flush and write_zeroes
# workloads, -T, SIGINT, and a bdev deleted over RPC while bdevperf drives it.
source "$(dirname "$0")/../../common/autotest_common.sh"

BDEVPERF=$rootdir/app/bdevperf/bdevperf
mem=(--no-huge -s 1024)
out=$TEST_TMP/out.log
err=$TEST_TMP/err.log

# has_module NAME: the module is in the tree (lib/bdev/NAME).
has_module() {
	[ -d "$rootdir/lib/bdev/$1" ]
}

# config FILE CALL...: a JSON configuration of the bdev subsystem made of CALLs
# ('{"method": ..., "params": ...}').
config() {
	local file=$1 IFS=,
	shift
	echo "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": [$*]}]}" > "$file"
}

# bdevperf ARGS...: run it (bounded), stdout in $out, stderr in $err; returns its status.
bdevperf() {
	timeout -k 5 60 "$BDEVPERF" "${mem[@]}" -r "$TEST_TMP/perf.sock" "$@" > "$out" 2> "$err"
}

# clean_run NAME ARGS...: bdevperf exits 0 with a Total row, a Job row per expected job and no
# failed I/O (Fail/s is the 5th figure of a row, after runtime, IOPS and MiB/s).
clean_run() {
	local name=$1 jobs=$2 rc
	shift 2
	bdevperf "$@"
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^Total ' "$out" &&
		[ "$(grep -c '^Job: ' "$out")" -eq "$jobs" ] &&
		awk -F: '/^Job: /{ split($NF, f, " "); if (f[1] <= 0 || f[2] <= 0 || f[4] != 0) bad = 1 }
			END { exit bad }' "$out"; then
		pass "$name"
	else
		fail "$name (exit $rc)"
		cat "$out" "$err"
	fi
}

# wait_exit PID SECONDS: 1 if the process has exited within SECONDS, else 0.
wait_exit() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		if ! kill -0 "$1" 2> /dev/null; then
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# no_sanitizer_output FILE: no AddressSanitizer, UBSan or assertion message.
no_sanitizer_output() {
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Assertion .* failed|Segmentation' "$1"
}

malloc_call='{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}}'
malloc1_call='{"method": "bdev_malloc_create", "params": {"name": "Malloc1", "num_blocks": 8192, "block_size": 4096}}'
null_call='{"method": "bdev_null_create", "params": {"name": "Null0", "num_blocks": 262144, "block_size": 512}}'

# 1. Options.
check "--help exits 0" bash -c "'$BDEVPERF' --help > /dev/null"
bad_option() { # args...: exit 1 with one line on stderr
	local msg rc
	msg=$("$BDEVPERF" "$@" 2>&1 > /dev/null)
	rc=$?
	[ $rc -eq 1 ] && [ "$(echo "$msg" | wc -l)" -eq 1 ] && [ -n "$msg" ] || {
		echo "bdevperf $*: exit $rc, stderr: $msg"
		return 1
	}
}
check "missing -w exits 1 with one line" bad_option -q 1 -o 4k -t 1
check "unknown workload exits 1 with one line" bad_option -q 1 -o 4k -t 1 -w nosuch
check "bad I/O size exits 1 with one line" bad_option -q 1 -o 4q -t 1 -w read
check "rw without -M exits 1 with one line" bad_option -q 1 -o 4k -t 1 -w rw
config "$TEST_TMP/none.json"
bdevperf --json "$TEST_TMP/none.json" -q 1 -o 4k -w read -t 1
check "no bdev: exit 1" test $? -eq 1
check "no bdev: says so" grep -q 'no bdevs' "$err"

# 2. verify for 3 s on each module.
if has_module malloc; then
	config "$TEST_TMP/malloc.json" "$malloc_call"
	clean_run "verify on malloc, two cores" 2 --json "$TEST_TMP/malloc.json" -m 0x3 -q 32 \
		-o 4k -w verify -t 3
	check "verify on malloc: one job per core" grep -q 'Job: Malloc0 (Core Mask 0x2)' "$out"
else
	echo "SKIP: malloc verify: lib/bdev/malloc is not in the tree"
fi
if has_module null; then
	# A null bdev keeps no data: reads only.
	config "$TEST_TMP/null.json" "$null_call"
	clean_run "randread on null" 1 --json "$TEST_TMP/null.json" -q 64 -o 4k -w randread -t 3
	clean_run "write on null with 1M I/O" 1 --json "$TEST_TMP/null.json" -q 8 -o 1M -w write \
		-t 1
else
	echo "SKIP: null randread: lib/bdev/null is not in the tree"
fi
for m in aio uring; do
	if ! has_module $m; then
		echo "SKIP: $m verify: lib/bdev/$m is not in the tree"
		continue
	fi
	truncate -s 32M "$TEST_TMP/$m.img"
	config "$TEST_TMP/$m.json" "{\"method\": \"bdev_${m}_create\", \"params\": {\"name\": \"${m}0\", \"filename\": \"$TEST_TMP/$m.img\", \"block_size\": 512}}"
	clean_run "verify on $m (file)" 1 --json "$TEST_TMP/$m.json" -q 32 -o 8k -w verify -t 3
done

if has_module malloc; then
	# 3. A read spoiled before it is checked: reported with its offset, run fails.
	bdevperf --json "$TEST_TMP/malloc.json" -q 16 -o 4k -w verify -t 3 --corrupt-after 50
	check "spoiled read: exit 1" test $? -eq 1
	check "spoiled read: reported with its block" \
		grep -qE 'verify failed on bdev Malloc0 .*I/O at block [0-9]+ .*byte 2048' "$err"
	check "spoiled read: one mismatch counted" grep -q 'verify found 1 mismatch' "$err"

	# 4. The other workloads.
	bdevperf --json "$TEST_TMP/malloc.json" -q 16 -o 4k -w reset -t 3
	rc=$?
	resets=$(sed -n 's/.*resets: \([0-9]*\).*/\1/p' "$out")
	check "reset workload exits 0" test $rc -eq 0
	check "reset workload: a reset every second completes under load" test "${resets:-0}" -ge 2
	for w in unmap flush write_zeroes; do
		clean_run "$w on malloc" 1 --json "$TEST_TMP/malloc.json" -q 8 -o 64k -w $w -t 1
	done
	clean_run "randrw -M 70 with progress lines" 1 --json "$TEST_TMP/malloc.json" -q 8 -o 4k \
		-w randrw -M 70 -t 2 -S 1
	check "progress line printed" grep -q ' s: .* IOPS' "$out"

	# 5. -T drives one bdev of two.
	config "$TEST_TMP/two.json" "$malloc_call" "$malloc1_call"
	clean_run "-T drives only the named bdev" 1 --json "$TEST_TMP/two.json" -T Malloc1 -q 8 \
		-o 4k -w read -t 1
	check "-T: the job is on Malloc1" grep -q '^Job: Malloc1 ' "$out"
	clean_run "without -T every bdev runs" 2 --json "$TEST_TMP/two.json" -q 8 -o 4k -w read -t 1

	# 6. SIGINT ends the run early, with results.
	"$BDEVPERF" "${mem[@]}" -r "$TEST_TMP/int.sock" --json "$TEST_TMP/malloc.json" -q 8 -o 4k \
		-w randread -t 60 > "$out" 2> "$err" &
	pid=$!
	TGT_PIDS+=("$pid")
	sleep 3
	kill -INT "$pid"
	wait_exit "$pid" 10
	check "SIGINT: exits by itself within 10 s" test $? -eq 1
	wait "$pid"
	check "SIGINT: exit status 0 (the run was cut short, nothing failed)" test $? -eq 0
	check "SIGINT: results printed" grep -q '^Total ' "$out"
fi

# 7. A 256 MiB malloc bdev deleted over RPC while bdevperf drives it.
if has_module malloc; then
	sock=$TEST_TMP/del.sock
	config "$TEST_TMP/big.json" '{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 65536, "block_size": 4096}}'
	"$BDEVPERF" "${mem[@]}" -r "$sock" --json "$TEST_TMP/big.json" -q 128 -o 1M -w randrw -M 50 \
		-t 10 > "$out" 2> "$err" &
	pid=$!
	TGT_PIDS+=("$pid")
	sleep 2
	if rpc "$sock" bdev_malloc_delete Malloc0; then
		pass "bdev_malloc_delete while bdevperf runs"
	else
		fail "bdev_malloc_delete while bdevperf runs"
	fi
	wait_exit "$pid" 5
	gone=$?
	check "deleted bdev: bdevperf exits by itself within 5 s" test $gone -eq 1
	if [ $gone -eq 0 ]; then
		kill -KILL "$pid" 2> /dev/null
	fi
	wait "$pid"
	rc=$?
	check "deleted bdev: exit status 1, not a signal" test $rc -eq 1
	check "deleted bdev: says the bdev was removed" \
		grep -q 'bdev Malloc0 was removed during the run' "$err"
	check "deleted bdev: results printed" grep -q '^Total ' "$out"
	check "deleted bdev: no sanitizer or assertion output" no_sanitizer_output "$err"
else
	echo "SKIP: delete while running: lib/bdev/malloc is not in the tree"
fi

finish
