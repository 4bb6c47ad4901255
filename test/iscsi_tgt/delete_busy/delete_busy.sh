#!/usr/bin/env bash
# A portal group, a target node and a LUN's bdev deleted while sessions run I/O on them: those
# sessions are asked to log out and go, the others run on, nothing leaks (delete_busy.py). The
# bdevs are small: a freed bdev's memory is zeroed, which shows in the resident size.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
port3=$(free_port)
ta=iqn.2016-06.io.spdk:busya
tb=iqn.2016-06.io.spdk:busyb

if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 2 512 > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc1 2 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_portal_group 3 "127.0.0.1:$port3" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node busya busya Malloc0:0 "1:2 3:2" 64 -d > /dev/null
rpc "$sock" iscsi_create_target_node busyb busyb Malloc1:0 1:2 64 -d > /dev/null
timeout 300 python3 "$(dirname "$0")/delete_busy.py" 127.0.0.1 "$port" "$port3" "$ta" "$tb" \
	"$TGT_PID" "$sock"
check "target alive after the deletions" kill -0 "$TGT_PID"
check "no error logged about a leak or a stuck task" bash -c "! grep -qi 'leak\|still busy\|stuck' '$log'"
stop_tgt "$TGT_PID" 10
check "SIGTERM exits 0 after the deletions" test $? -eq 0
finish
