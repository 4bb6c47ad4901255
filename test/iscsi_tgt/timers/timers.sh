#!/usr/bin/env bash
# NOP-In pings and their timeout, the login timeout, the logout-request timeout, MaxSessions,
# session reinstatement and the logout timers, with our PDU client playing live and dead
# initiators (timers.py; about 40 s: two of the timers are 30 s).
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)

if ! start_tgt "$sock" "$log" -m 0x1 --wait-for-rpc; then
	fail "iscsi_tgt starts"
	finish
fi
check "iscsi_set_options: NopInInterval 1, Timeout 3, MaxSessions 4, Time2Wait 5, Time2Retain 7" \
	rpc "$sock" iscsi_set_options -n 1 -o 3 -a 4 -w 5 -v 7
rpc "$sock" framework_start_init > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc0 8 512 > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc1 8 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node timers timers Malloc0:0 1:2 64 -d > /dev/null
rpc "$sock" iscsi_create_target_node timers2 timers2 Malloc1:0 1:2 64 -d > /dev/null
timeout 120 python3 "$(dirname "$0")/timers.py" 127.0.0.1 "$port" iqn.2016-06.io.spdk:timers \
	iqn.2016-06.io.spdk:timers2 "$sock"
check "the log names the NOP-Out timeout" grep -q "NOP-Out" "$log"
check "target alive after the timer tests" kill -0 "$TGT_PID"
stop_tgt "$TGT_PID" 10
check "SIGTERM exits 0 after the timer tests" test $? -eq 0
finish
