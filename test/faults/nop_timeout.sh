#!/usr/bin/env bash
# NOP-In timeout on an initiator that stops answering, others unaffected
# (test/faults/nop_timeout.py); the target logs why it dropped the connection.
source "$(dirname "$0")/../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:nop

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --wait-for-rpc; then
	fail "iscsi_tgt starts"
	finish
fi
check "iscsi_set_options: NOP-In after 1 s idle, 2 s to answer" \
	rpc "$sock" call iscsi_set_options '{"nop_in_interval": 1, "nop_timeout": 2}'
rpc "$sock" framework_start_init > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc0 16 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node nop nop Malloc0:0 1:2 64 -d > /dev/null
timeout 120 python3 "$(dirname "$0")/nop_timeout.py" 127.0.0.1 "$port" "$target" "$sock" \
	"$TGT_PID" || true
check "the target logged the NOP-Out timeout with the initiator's name" \
	grep -q "iqn.2016-06.io.keel:silent.*timed out waiting for NOP-Out" "$log"
check "no other connection timed out" bash -c "! grep -q 'keel:\(busy\|pinged\).*NOP-Out' '$log'"
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0" test $? -eq 0
finish
