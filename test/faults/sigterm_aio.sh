#!/usr/bin/env bash
# SIGTERM while writes are in flight on an AIO LUN: every write acknowledged with FUA, or
# followed by a GOOD SYNCHRONIZE CACHE, is in the backing file afterwards and reads back
# through a restarted target (test/faults/sigterm_aio.py).
source "$(dirname "$0")/../common/autotest_common.sh"

here=$(dirname "$0")
sock=$TEST_TMP/rpc.sock
port=$(free_port)
target=iqn.2016-06.io.spdk:aio
img=$TEST_TMP/aio.img
journal=$TEST_TMP/journal

setup() { # the AIO LUN on $img behind $target
	rpc "$sock" bdev_aio_create "$img" Aio0 512 > /dev/null &&
		rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null &&
		rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null &&
		rpc "$sock" iscsi_create_target_node aio aio Aio0:0 1:2 64 -d > /dev/null
}

truncate -s 512M "$img" # four writers, 128 MiB each (sparse; only what is written takes room)
if ! start_tgt "$sock" "$TEST_TMP/tgt1.log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
check "AIO LUN set up" setup
python3 "$here/sigterm_aio.py" write 127.0.0.1 "$port" "$target" "$journal" &
writers=$!
# SIGTERM once writes are flowing: a few hundred acknowledged, far from the end of the regions.
for _ in $(seq 300); do
	[ -f "$journal" ] && [ "$(wc -l < "$journal")" -ge 256 ] && break
	sleep 0.1
done
stop_tgt "$TGT_PID" 30
check "SIGTERM with writes in flight exits 0" test $? -eq 0
wait "$writers"
check "the target stopped while writes were in flight (writers were not done)" \
	test "$(wc -l < "$journal")" -lt $((4 * 4096))
python3 "$here/sigterm_aio.py" verify-file "$img" "$journal"
[ $? -ne 0 ] && FAILED=$((FAILED + 1))

if ! start_tgt "$sock" "$TEST_TMP/tgt2.log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt restarts"
	finish
fi
check "AIO LUN set up again on the same file" setup
timeout 120 python3 "$here/sigterm_aio.py" verify-iscsi 127.0.0.1 "$port" "$target" "$journal"
[ $? -ne 0 ] && FAILED=$((FAILED + 1))
stop_tgt "$TGT_PID" 20
check "the restarted target stops with SIGTERM" test $? -eq 0
finish
