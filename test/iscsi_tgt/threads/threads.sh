#!/usr/bin/env bash
# Connections on two cores (-m 0x3): placement on the least loaded core of the portal's
# cpumask, reported by iscsi_get_connections, and I/O on both cores at once (threads.py).
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
port1=$(free_port)
target=iqn.2016-06.io.spdk:threads

if ! start_tgt "$sock" "$log" -m 0x3 --empty; then
	fail "iscsi_tgt starts on two cores"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 32 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" "127.0.0.1:$port1@0x2" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node threads threads Malloc0:0 1:2 64 -d > /dev/null
check "framework_get_reactors lists two cores" bash -c \
	"python3 '$RPC_PY' -s '$sock' framework_get_reactors | grep -c '\"lcore\"' | grep -qx 2"
timeout 300 python3 "$(dirname "$0")/threads.py" 127.0.0.1 "$port" "$port1" "$target" "$sock"
check "target alive after the tests on two cores" kill -0 "$TGT_PID"
stop_tgt "$TGT_PID" 10
check "SIGTERM exits 0 on two cores" test $? -eq 0
finish
