#!/usr/bin/env bash
# Initiators that vanish during login, R2T, Data-In and inside a PDU: every pool count back to
# its start value each time (test/faults/vanish.py), the target alive, exit 0 on SIGTERM.
source "$(dirname "$0")/../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:vanish

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node vanish vanish Malloc0:0 1:2 64 -d > /dev/null
timeout 300 python3 "$(dirname "$0")/vanish.py" 127.0.0.1 "$port" "$target" "$sock" "$TGT_PID" \
	"${VANISH_ROUNDS:-20}" || true
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0 after the vanished initiators" test $? -eq 0
finish
