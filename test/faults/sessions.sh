#!/usr/bin/env bash
# Many sessions at once (SESSIONS, default 1000, with MaxSessions raised), all logged out; then
# CYCLES login/logout cycles (default 10,000) with resident memory flat within RSS_TOLERANCE_KB
# between the end of a warm-up (a tenth of the cycles) and the end (test/faults/sessions.py).
source "$(dirname "$0")/../common/autotest_common.sh"

sessions=${SESSIONS:-1000}
cycles=${CYCLES:-10000}
tolerance_kb=${RSS_TOLERANCE_KB:-1024}
sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:many

# An ASan build keeps freed memory in quarantine, which would read as growth: keep it small.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
# One descriptor per connection on both sides, and some spare.
ulimit -n $((sessions * 2 + 256)) 2> /dev/null || ulimit -n "$(ulimit -Hn)"
if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 1024 --wait-for-rpc; then
	fail "iscsi_tgt starts"
	finish
fi
check "iscsi_set_options: MaxSessions $((sessions + 24))" \
	rpc "$sock" call iscsi_set_options "{\"max_sessions\": $((sessions + 24))}"
rpc "$sock" framework_start_init > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc0 16 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node many many Malloc0:0 1:2 64 -d > /dev/null
timeout 600 python3 "$(dirname "$0")/sessions.py" 127.0.0.1 "$port" "$target" "$sock" \
	"$TGT_PID" "$sessions" "$cycles" "$tolerance_kb" || true
stop_tgt "$TGT_PID" 30
check "SIGTERM exits 0 after the sessions" test $? -eq 0
finish
