#!/usr/bin/env bash
# Queue-depth sampling (bdev_set_qd_sampling_period) with I/O in flight, driven by bdevperf:
# bdev_get_iostat shows queue_depth, io_time and weighted_io_time only while sampling is on;
# under a load of 32 reads the sampled depth is above 0 and io_time grows; with 4 reads held by
# an error bdev the depth is exactly 4 and weighted_io_time 4 times io_time; period 0 turns it
# off; the old method name; a bdev deleted while sampled.
source "$(dirname "$0")/../../common/autotest_common.sh"

BDEVPERF=$rootdir/app/bdevperf/bdevperf
mem=(--no-huge -s 1024)
sock=$TEST_TMP/perf.sock

# perf CONFIG_JSON ARGS...: bdevperf in the background (bounded), output in $TEST_TMP/perf.log;
# waits until its RPC server answers; sets PERF_PID.
perf() {
	local cfg=$1 i
	shift
	echo "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": [$cfg]}]}" > "$TEST_TMP/perf.json"
	rm -f "$sock"
	timeout -k 5 60 "$BDEVPERF" "${mem[@]}" -r "$sock" --json "$TEST_TMP/perf.json" "$@" \
		> "$TEST_TMP/perf.log" 2>&1 &
	PERF_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && rpc "$sock" -t 2 bdev_get_bdevs > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# stat NAME EXPR: a Python expression over s, the bdev's bdev_get_iostat entry.
stat() {
	rpc "$sock" bdev_get_iostat -b "$1" | python3 -c '
import json, sys
s = json.load(sys.stdin)["bdevs"][0]
ok = eval(sys.argv[1])
if not ok:
    print(s)
sys.exit(0 if ok else 1)' "$2"
}

# field NAME KEY: one member of the bdev's bdev_get_iostat entry.
field() {
	rpc "$sock" bdev_get_iostat -b "$1" | python3 -c '
import json, sys
print(json.load(sys.stdin)["bdevs"][0][sys.argv[1]])' "$2"
}

malloc='{"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}}'
error='{"method": "bdev_error_create", "params": {"base_name": "Malloc0"}}'

# 1. 32 random reads in flight on a malloc bdev.
if ! perf "$malloc" -q 32 -o 4k -w randread -t 5; then
	fail "bdevperf starts"
	cat "$TEST_TMP/perf.log"
	finish
fi
pass "bdevperf starts"
check "not sampled: bdev_get_iostat has no queue_depth members" \
	stat Malloc0 '"queue_depth_polling_period" not in s and "queue_depth" not in s'
check "a bdev that does not exist is refused" \
	fails_naming "$sock" Nope bdev_set_qd_sampling_period Nope 1000
check "a missing period is refused, naming it" \
	fails_naming "$sock" period call bdev_set_qd_sampling_period '{"name": "Malloc0"}'
check "bdev_set_qd_sampling_period Malloc0 1000 answers true" \
	bash -c "test \"\$(python3 '$RPC_PY' -s '$sock' bdev_set_qd_sampling_period Malloc0 1000)\" = true"
sleep 0.5
check "sampled every 1000 us: the period is reported" stat Malloc0 \
	's["queue_depth_polling_period"] == 1000'
check "under load the sampled queue depth is from 1 to 32" stat Malloc0 \
	'1 <= s["queue_depth"] <= 32'
check "io_time is above 0, weighted_io_time at least as much" stat Malloc0 \
	's["io_time"] > 0 and s["weighted_io_time"] >= s["io_time"]'
t1=$(field Malloc0 io_time)
sleep 0.3
t2=$(field Malloc0 io_time)
check "io_time grows while I/O is in flight ($t1, then $t2)" test "${t2:-0}" -gt "${t1:-0}"
check "set_bdev_qd_sampling_period (old name) 0 turns it off" \
	rpc "$sock" set_bdev_qd_sampling_period Malloc0 0
check "off: the members are gone from bdev_get_iostat" \
	stat Malloc0 '"queue_depth_polling_period" not in s and "io_time" not in s'
wait $PERF_PID
check "bdevperf exits 0" test $? -eq 0
mv "$TEST_TMP/perf.log" "$TEST_TMP/perf1.log" # finish() looks for sanitizer reports in *.log

# 2. Four reads held by an error bdev: the depth is known exactly.
if perf "$malloc, $error" -T EE_Malloc0 -q 4 -o 4k -w read -t 20; then
	rpc "$sock" bdev_error_inject_error EE_Malloc0 read pending -n 4 > /dev/null
	sleep 0.3
	rpc "$sock" bdev_set_qd_sampling_period EE_Malloc0 10000 > /dev/null
	sleep 0.5
	check "four reads held: the sampled queue depth is 4" stat EE_Malloc0 \
		's["queue_depth"] == 4 and s["queue_depth_polling_period"] == 10000'
	check "io_time is whole periods, weighted_io_time 4 times it" stat EE_Malloc0 \
		's["io_time"] >= 10000 and s["io_time"] % 10000 == 0 and s["weighted_io_time"] == 4 * s["io_time"]'
	check "the base, with nothing outstanding, is not sampled" \
		stat Malloc0 '"queue_depth" not in s'
	# Deleting the sampled bdev aborts the held reads, which bdevperf counts as failed.
	check "a sampled bdev can be deleted" rpc "$sock" bdev_error_delete EE_Malloc0
	wait $PERF_PID
	rc=$?
	check "bdevperf ends (status 1), the four held reads failed" bash -c \
		"test $rc -eq 1 && grep -q 'bdevperf: 4 I/O failed' '$TEST_TMP/perf.log'"
	check "no error about the sampling in bdevperf's output" \
		bash -c "! grep -E 'ERROR|for_each_channel|Sanitizer' '$TEST_TMP/perf.log'"
else
	fail "bdevperf starts on EE_Malloc0"
	cat "$TEST_TMP/perf.log"
fi

finish
