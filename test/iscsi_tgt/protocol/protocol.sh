#!/usr/bin/env bash
# Protocol edge cases from our own PDU client (test/iscsi_tgt/protocol/protocol.py).
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:proto

if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node proto proto Malloc0:0 1:2 64 -d > /dev/null
timeout 300 python3 "$(dirname "$0")/protocol.py" 127.0.0.1 "$port" "$target" "$TGT_PID"
check "target alive after the protocol tests" kill -0 "$TGT_PID"
stop_tgt "$TGT_PID" 10
check "SIGTERM exits 0 after the protocol tests" test $? -eq 0
finish
