#!/usr/bin/env bash
# LUNs added and removed (bdev deleted, I/O running) while sessions are logged in: the sessions
# see the change (Asynchronous Event, unit attention, REPORT LUNS, I/O), from our PDU client.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:lunchg

if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
for b in Malloc0 Malloc1 Malloc2; do
	rpc "$sock" bdev_malloc_create -b $b 16 512 > /dev/null
done
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node lunchg lunchg Malloc0:0 1:2 64 -d > /dev/null
timeout 300 python3 "$(dirname "$0")/lun_change.py" 127.0.0.1 "$port" "$target" "$TGT_PID" "$sock"
check "target alive after the LUN changes" kill -0 "$TGT_PID"
stop_tgt "$TGT_PID" 10
check "SIGTERM exits 0 after the LUN changes" test $? -eq 0
finish
