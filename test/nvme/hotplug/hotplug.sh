#!/usr/bin/env bash
# Surprise removal of an NVMe controller under load. iscsi_tgt exports a software NVMe
# controller's namespace (LUN 0) and a RAM disk (LUN 1); libiscsi's iscsi-perf reads 1 MiB at
# queue depth 32 and a second initiator writes 1 MiB at queue depth 32 through R2T, both on
# LUN 0, when the controller disappears. The target must fail those commands cleanly (every
# one answered), drop the LUN, keep serving LUN 1, and the hotplug monitor must attach a new
# controller that can be exported again.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:disk1
writer=$rootdir/test/nvme/common/qd_writer.py

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 1024 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
check "bdev_nvme_set_hotplug -e (period 100 ms)" rpc "$sock" bdev_nvme_set_hotplug -e -r 100000
check "bdev_nvme_attach_controller -b Nvme0 -t PCIe -a sim:0" \
	rpc "$sock" bdev_nvme_attach_controller -b Nvme0 -t PCIe -a sim:0
check "bdev Nvme0n1 exists" rpc "$sock" bdev_get_bdevs -b Nvme0n1
check "bdev_malloc_create -b Malloc0 64 512" rpc "$sock" bdev_malloc_create -b Malloc0 64 512
check "portal group" rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port"
check "initiator group" rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32
check "target node with Nvme0n1 as LUN 0 and Malloc0 as LUN 1" \
	rpc "$sock" iscsi_create_target_node disk1 "Disk1" "Nvme0n1:0 Malloc0:1" 1:2 64 -d

# Load on LUN 0: reads through iscsi-perf, writes through R2T.
timeout 60 iscsi-perf -m 32 -b 2048 -t 30 "iscsi://127.0.0.1:$port/$target/0" \
	> "$TEST_TMP/perf.out" 2>&1 &
perf_pid=$!
timeout 60 python3 "$writer" "$port" "$target" 0 --qd 32 --size 1048576 --seconds 30 \
	> "$TEST_TMP/writer.out" 2>&1 &
writer_pid=$!
sleep 4
reads_before=$(grep -o 'iops average [0-9]*' "$TEST_TMP/perf.out" | tail -1 | awk '{print $3}')
echo "reads before removal: ${reads_before:-none} IOPS (1 MiB)"
check "1 MiB reads run before the removal" test "${reads_before:-0}" -gt 0

check "the controller is removed by surprise (bdev_nvme_sim_remove sim:0)" \
	rpc "$sock" call bdev_nvme_sim_remove '{"traddr": "sim:0"}'

wait "$perf_pid"
perf_rc=$?
wait "$writer_pid"
writer_rc=$?
tail -c 300 "$TEST_TMP/perf.out"
echo
cat "$TEST_TMP/writer.out"
check "iscsi-perf ends by itself (no hang), rc $perf_rc" test "$perf_rc" -ne 124
check "every write was answered (no lost completion), rc $writer_rc" test "$writer_rc" -eq 0
check "writes ran before the removal" \
	python3 -c "import json,sys; d=json.load(open('$TEST_TMP/writer.out')); sys.exit(d['good'] == 0)"
check "writes after the removal failed with CHECK CONDITION" \
	python3 -c "import json,sys; d=json.load(open('$TEST_TMP/writer.out')); sys.exit(not (d['failed'] > 0 and d['first_status'] == 2))"

check "the target is still running" kill -0 "$TGT_PID"
for ((i = 0; i < 50; i++)); do
	rpc "$sock" bdev_get_bdevs -b Nvme0n1 > /dev/null 2>&1 || break
	sleep 0.1
done
check_fails "bdev Nvme0n1 is gone" rpc "$sock" bdev_get_bdevs -b Nvme0n1
check_fails "controller Nvme0 is gone" rpc "$sock" bdev_nvme_get_controllers -n Nvme0
check "the LUN change shows in the target node (LUN 0 gone, LUN 1 left)" bash -c \
	"python3 '$RPC_PY' -s '$sock' iscsi_get_target_nodes | python3 -c 'import json,sys; n=json.load(sys.stdin)[0]; l=[x[\"bdev_name\"] for x in n[\"luns\"]]; sys.exit(l != [\"Malloc0\"])'"

# The RAM LUN keeps serving: a write and read back through a fresh session.
check "the RAM LUN still reads and writes" python3 - "$port" "$target" << 'EOF'
import os, sys
sys.path.insert(0, os.path.join(os.environ.get('rootdir', '.'), 'test/iscsi_tgt/common'))
import iscsi_client as ic
c = ic.Connection(port=int(sys.argv[1]))
c.login(target=sys.argv[2])
data = os.urandom(65536)
st, _, _ = c.scsi(ic.write10(100, 128), data=data, lun=1)
assert st == 0, st
st, _, back = c.scsi(ic.read10(100, 128), read_len=65536, lun=1)
assert st == 0 and back == data
st, sense, _ = c.scsi(ic.read10(0, 8), read_len=4096, lun=0)
assert st == 2, st
c.logout()
EOF
out=$(timeout 20 iscsi-inq "iscsi://127.0.0.1:$port/$target/1" 2>&1)
check "iscsi-inq on LUN 1 answers" bash -c "echo '$out' | grep -qi 'Malloc disk'"

# A controller that appears is attached by the hotplug monitor and can be exported again.
check "a new controller appears (bdev_nvme_sim_create index 1)" \
	rpc "$sock" call bdev_nvme_sim_create '{"index": 1}'
for ((i = 0; i < 50; i++)); do
	rpc "$sock" bdev_get_bdevs -b HotInNvme0n1 > /dev/null 2>&1 && break
	sleep 0.1
done
check "the hotplug monitor attached it as HotInNvme0 (bdev HotInNvme0n1)" \
	rpc "$sock" bdev_get_bdevs -b HotInNvme0n1
check "exported again as LUN 0 of a new target" \
	rpc "$sock" iscsi_create_target_node disk2 "Disk2" "HotInNvme0n1:0" 1:2 64 -d
out=$(timeout 30 iscsi-perf -m 32 -b 2048 -t 3 "iscsi://127.0.0.1:$port/iqn.2016-06.io.spdk:disk2/0" 2>&1)
echo "$out" | tail -c 200
echo
check "1 MiB reads at queue depth 32 on the new controller" bash -c \
	"echo '$out' | grep -q 'finished'"
check "writes at queue depth 32 on the new controller, all good" bash -c \
	"timeout 60 python3 '$writer' '$port' iqn.2016-06.io.spdk:disk2 0 --seconds 3 | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(not (d[\"good\"] > 0 and d[\"failed\"] == 0))'"

stop_tgt "$TGT_PID" 20
check "SIGTERM afterwards exits 0" test $? -eq 0
check "no error about lost or leaked I/O in the log" bash -c \
	"! grep -E 'in flight|not outstanding|leak' '$log'"
finish
