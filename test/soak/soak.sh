#!/usr/bin/env bash
# `make soak DURATION=<s>`: test/soak/soak.py against a fresh target for DURATION seconds
# (default 60). Not part of `make test` (test/run_tests.sh skips test/soak).
source "$(dirname "$0")/../common/autotest_common.sh"

duration=${1:-${DURATION:-60}}
sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:soak

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 1024 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node soak soak Malloc0:0 1:2 64 -d > /dev/null
timeout $((duration + 300)) python3 "$(dirname "$0")/soak.py" 127.0.0.1 "$port" "$target" \
	"$sock" "$TGT_PID" "$duration" || FAILED=$((FAILED + 1))
stop_tgt "$TGT_PID" 30
check "soak: SIGTERM exits 0 at the end" test $? -eq 0
finish
