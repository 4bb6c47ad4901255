#!/usr/bin/env bash
# Network fuzzer against a running iscsi_tgt (test/fuzz/net_fuzz.py). In `make test`: the
# regression sessions, then the 400 mutated sessions of seed 1, four connections at once (the
# same sessions every time; at most 60 s). With NET_FUZZ_TIME=<s>: a random seed (or
# NET_FUZZ_SEED), NET_FUZZ_THREADS connections at once (default 4), for that long. The target
# must survive, serve a clean session, give every pool object back and stop on SIGTERM.
source "$(dirname "$0")/../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:fuzz
if [ -n "${NET_FUZZ_TIME:-}" ]; then
	seconds=$NET_FUZZ_TIME
	opts=(${NET_FUZZ_SEED:+--seed "$NET_FUZZ_SEED"} --threads "${NET_FUZZ_THREADS:-4}")
else
	seconds=60
	opts=(--seed 1 --threads 4 --sessions 400)
fi

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 16 512 > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc1 16 4096 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node fuzz fuzz "Malloc0:0 Malloc1:1" 1:2 64 -d > /dev/null
timeout $((seconds + 120)) python3 "$(dirname "$0")/net_fuzz.py" 127.0.0.1 "$port" "$target" \
	"$sock" "$TGT_PID" "$seconds" "${opts[@]}" || true
if kill -0 "$TGT_PID" 2> /dev/null; then
	stop_tgt "$TGT_PID" 30
	check "SIGTERM exits 0 after fuzzing" test $? -eq 0
else
	fail "the target died while fuzzed"
	tail -40 "$log"
fi
finish
