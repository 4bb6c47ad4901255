#!/usr/bin/env bash
# SIGKILL: the next start comes up on the same RPC socket and the same hugepage directory, and
# serves again. First on ordinary memory (--no-huge), then on 2 MiB hugepages in a private
# hugetlbfs mount with a shared-memory id (-i): the killed process must leave no hugepage in
# use and no file in the mount. Hugepages are reserved for the test if too few are free, and
# the reservation is given back at the end.
source "$(dirname "$0")/../common/autotest_common.sh"

here=$(dirname "$0")
sock=$TEST_TMP/rpc.sock
port=$(free_port)
target=iqn.2016-06.io.spdk:killed
nr=/proc/sys/vm/nr_hugepages
free_pages=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
need_pages=160
added_pages=0
huge=$TEST_TMP/huge

setup() {
	rpc "$sock" bdev_malloc_create -b Malloc0 32 512 > /dev/null &&
		rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null &&
		rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null &&
		rpc "$sock" iscsi_create_target_node killed killed Malloc0:0 1:2 64 -d > /dev/null
}

# A session doing reads and writes in the background until the target dies.
io_load() {
	python3 -c "
import sys; sys.path.insert(0, '$here')
import faults_common as fc, iscsi_client as ic
c = fc.Pipeline('127.0.0.1', $port, timeout=5)
c.login(target='$target')
c.scsi(ic.test_unit_ready())
try:
    for i in range(100000):
        while len(c.inflight) < 8:
            c.submit((i * 64) % 60000, 64, 512, data=b'k' * 32768 if i % 2 else None)
        c.complete_one()
except Exception:
    pass
" &
	IO_PID=$!
}

# kill_and_restart NAME ARGS...: start, configure, load, SIGKILL, start again on the same
# socket with the same arguments, serve.
kill_and_restart() {
	local name=$1 rc
	shift
	if ! start_tgt "$sock" "$TEST_TMP/$name-1.log" "$@"; then
		fail "$name: iscsi_tgt starts"
		return 1
	fi
	check "$name: configured" setup
	io_load
	sleep 1
	kill -KILL "$TGT_PID"
	wait "$TGT_PID" 2> /dev/null
	wait "$IO_PID" 2> /dev/null
	check "$name: the socket file is left behind by SIGKILL" test -S "$sock"
	if [ -n "${HUGE_MOUNTED:-}" ]; then
		check "$name: no hugepage file left in the mount after SIGKILL" \
			test -z "$(ls -A "$huge")"
		check "$name: every hugepage free again after SIGKILL" \
			test "$(cat "$free_pages")" -ge "$free_before"
	fi
	if ! start_tgt "$sock" "$TEST_TMP/$name-2.log" "$@"; then
		fail "$name: the next start comes up on the same socket"
		return 1
	fi
	pass "$name: the next start comes up on the same socket"
	check "$name: the stale socket was noticed and replaced" \
		grep -q "removing stale RPC socket" "$TEST_TMP/$name-2.log"
	check "$name: configured again (the iSCSI port is free again)" setup
	check "$name: an initiator logs in and reads" timeout 20 iscsi-readcapacity16 \
		"iscsi://127.0.0.1:$port/$target/0"
	stop_tgt "$TGT_PID" 20
	rc=$?
	check "$name: SIGTERM exits 0" test $rc -eq 0
}

kill_and_restart "no-huge" -m 0x1 --no-huge -s 512 --empty

# Hugepages.
free_before=$(cat "$free_pages" 2> /dev/null || echo 0)
if [ "$free_before" -lt "$need_pages" ] && [ -w "$nr" ]; then
	added_pages=$((need_pages - free_before))
	echo $(($(cat "$nr") + added_pages)) > "$nr"
	free_before=$(cat "$free_pages")
fi
mkdir -p "$huge"
if [ "$free_before" -ge "$need_pages" ] && mount -t hugetlbfs -o pagesize=2M nodev "$huge"; then
	HUGE_MOUNTED=1
	kill_and_restart "hugepages" -m 0x1 -s 300 --empty --huge-dir "$huge" -i $((RANDOM % 1000 + 1000))
	check "hugepages: every hugepage free again after the last stop" \
		test "$(cat "$free_pages")" -ge "$free_before"
	umount "$huge"
else
	echo "NOTE: no hugetlbfs with $need_pages free 2 MiB pages here; the hugepage case did not run"
fi
if [ "$added_pages" -gt 0 ]; then
	echo $(($(cat "$nr") - added_pages)) > "$nr"
fi
finish
