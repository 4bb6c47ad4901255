#!/usr/bin/env bash
# A bdev deleted by RPC under 1 MiB reads and writes at queue depth 32 over iSCSI
# (test/faults/bdev_delete.py), then the target stops cleanly.
source "$(dirname "$0")/../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:gone

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node gone gone Malloc0:0 1:2 64 -d > /dev/null
timeout 180 python3 "$(dirname "$0")/bdev_delete.py" 127.0.0.1 "$port" "$target" "$sock" \
	"$TGT_PID" Malloc0 || true
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0 after the deletion" test $? -eq 0
finish
