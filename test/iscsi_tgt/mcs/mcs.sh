#!/usr/bin/env bash
# Multiple connections per session, from our PDU client (mcs.py): joining, CmdSN order across
# connections, connection allegiance, MaxConnections, logout of one connection, reinstatement.
# On one core, then on two (where a joining connection first moves to its session's core).
source "$(dirname "$0")/../../common/autotest_common.sh"

target=iqn.2016-06.io.spdk:mcs
for mask in 0x1 0x3; do
	sock=$TEST_TMP/rpc.$mask.sock
	log=$TEST_TMP/tgt.$mask.log
	port=$(free_port)
	if ! start_tgt "$sock" "$log" -m $mask --empty; then
		fail "iscsi_tgt starts (-m $mask)"
		continue
	fi
	rpc "$sock" bdev_malloc_create -b Malloc0 16 512 > /dev/null
	rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
	rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
	rpc "$sock" iscsi_create_target_node mcs mcs Malloc0:0 1:2 64 -d > /dev/null
	echo "== -m $mask"
	timeout 120 python3 "$(dirname "$0")/mcs.py" 127.0.0.1 "$port" "$target" | sed "s/^\(PASS\|FAIL\): /\1: -m $mask: /"
	check "-m $mask: target alive after the MC/S tests" kill -0 "$TGT_PID"
	stop_tgt "$TGT_PID" 10
	check "-m $mask: SIGTERM exits 0 after the MC/S tests" test $? -eq 0
done
finish
