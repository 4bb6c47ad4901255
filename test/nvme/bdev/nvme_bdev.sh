#!/usr/bin/env bash
# The NVMe bdev module on software controllers: bdevperf's verify, 1 MiB, unmap, write_zeroes,
# flush and reset workloads on two cores; the RPCs under old and new names; namespace attach,
# resize and detach through asynchronous events; injected errors (retried), a timed-out write
# (aborted, then retried), a fatal controller status (reset); save_config; the [Nvme] section.
source "$(dirname "$0")/../../common/autotest_common.sh"

BDEVPERF=$rootdir/app/bdevperf/bdevperf
out=$TEST_TMP/out.log
err=$TEST_TMP/err.log
sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
client=$rootdir/test/iscsi_tgt/common

bdevperf() {
	timeout -k 5 60 "$BDEVPERF" --no-huge -s 1024 -r "$TEST_TMP/perf.sock" "$@" > "$out" 2> "$err"
}

# clean_run NAME JOBS ARGS...: exit 0, a Job row per job, no failed I/O.
clean_run() {
	local name=$1 jobs=$2 rc
	shift 2
	bdevperf "$@"
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^Total ' "$out" &&
		[ "$(grep -c '^Job: ' "$out")" -eq "$jobs" ] &&
		awk -F: '/^Job: /{ split($NF, f, " "); if (f[1] <= 0 || f[2] <= 0 || f[4] != 0) bad = 1 }
			END { exit bad }' "$out"; then
		pass "$name"
	else
		fail "$name (exit $rc)"
		cat "$out" "$err"
	fi
}

cat > "$TEST_TMP/nvme.json" << 'EOF'
{"subsystems": [{"subsystem": "bdev", "config": [
 {"method": "bdev_nvme_set_options", "params": {"retry_count": 2, "timeout_us": 0}},
 {"method": "bdev_nvme_attach_controller", "params": {"name": "Nvme0", "trtype": "PCIe", "traddr": "sim:0"}}
]}]}
EOF
clean_run "verify on Nvme0n1, two cores (a queue pair each)" 2 --json "$TEST_TMP/nvme.json" \
	-m 0x3 -q 32 -o 4k -w verify -t 3
clean_run "1 MiB verify on Nvme0n1" 1 --json "$TEST_TMP/nvme.json" -q 32 -o 1M -w verify -t 3
for w in unmap write_zeroes flush; do
	clean_run "$w workload on Nvme0n1" 1 --json "$TEST_TMP/nvme.json" -q 16 -o 64k -w $w -t 2
done
bdevperf --json "$TEST_TMP/nvme.json" -q 16 -o 4k -w reset -t 3
rc=$?
resets=$(sed -n 's/.*resets: \([0-9]*\).*/\1/p' "$out")
check "reset workload exits 0 (controller resets under load)" test $rc -eq 0
check "reset workload: resets completed (${resets:-0})" test "${resets:-0}" -ge 2
check "resets reached the controller" grep -q "resetting controller" "$err" "$out"

# The daemon, with the RPCs.
if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 1024 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
port=$(free_port)
check "set_bdev_nvme_options (old name) before any controller" \
	rpc "$sock" set_bdev_nvme_options -a abort -t 300000 -n 3 -p 10000
check "construct_nvme_bdev (old name) answers the bdev names" bash -c \
	"python3 '$RPC_PY' -s '$sock' construct_nvme_bdev -b Nvme0 -t pcie -a sim:0 | grep -q Nvme0n1"
check_fails "bdev_nvme_set_options is refused once a controller is attached" \
	rpc "$sock" bdev_nvme_set_options -t 0
check_fails "attaching the same controller twice is refused" \
	rpc "$sock" bdev_nvme_attach_controller -b Other -t PCIe -a sim:0
check_fails "a transport other than PCIe is refused" \
	rpc "$sock" bdev_nvme_attach_controller -b Rdma -t RDMA -a 10.0.0.1
check_fails "an absent PCI device is refused" \
	rpc "$sock" bdev_nvme_attach_controller -b Absent -t PCIe -a 0000:ff:1f.7
check "get_nvme_controllers (old name) lists Nvme0 at sim:0" bash -c \
	"python3 '$RPC_PY' -s '$sock' get_nvme_controllers | grep -q '\"traddr\": \"sim:0\"'"
check "bdev_get_bdevs shows the nvme driver data" bash -c \
	"python3 '$RPC_PY' -s '$sock' bdev_get_bdevs -b Nvme0n1 | grep -q 'keel simulated NVMe controller'"

num_blocks() {
	python3 "$RPC_PY" -s "$sock" bdev_get_bdevs -b "$1" 2> /dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["num_blocks"])'
}
wait_for() { # CMD...: until it succeeds, 5 s at most
	local i
	for ((i = 0; i < 100; i++)); do
		"$@" > /dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
check "namespace 1 grows to 128 MiB (event)" rpc "$sock" bdev_nvme_sim_ns_set sim:0 1 128
check "Nvme0n1 follows the resize" wait_for test "$(num_blocks Nvme0n1)" = 262144
check "namespace 2 is attached (event)" rpc "$sock" bdev_nvme_sim_ns_set sim:0 2 16
check "bdev Nvme0n2 appears" wait_for rpc "$sock" bdev_get_bdevs -b Nvme0n2
check "namespace 2 is detached (event)" rpc "$sock" bdev_nvme_sim_ns_set sim:0 2 0
check "bdev Nvme0n2 goes" wait_for bash -c "! python3 '$RPC_PY' -s '$sock' bdev_get_bdevs -b Nvme0n2"

check "portal group" rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port"
check "initiator group" rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32
check "target node on Nvme0n1" rpc "$sock" iscsi_create_target_node disk1 D1 "Nvme0n1:0" 1:2 64 -d

# io.py ACTION: one command through a fresh session; exit 0 if it ended GOOD.
cat > "$TEST_TMP/io.py" << EOF
import os, sys
sys.path.insert(0, '$client')
import iscsi_client as ic
c = ic.Connection(port=$port, timeout=30)
c.login(target='iqn.2016-06.io.spdk:disk1')
data = bytes(range(256)) * 16
if sys.argv[1] == 'write':
    st, _, _ = c.scsi(ic.write10(8, 8), data=data)
else:
    c.scsi(ic.write10(8, 8), data=data)
    st, _, back = c.scsi(ic.read10(8, 8), read_len=4096)
    st = st if back == data or st else 99
c.logout()
sys.exit(st)
EOF
check "write then read back through iSCSI" python3 "$TEST_TMP/io.py" read
check "inject one read error" rpc "$sock" bdev_nvme_sim_inject sim:0 error -o 2 -t 2 -c 0x81
check "a read that failed once is retried and succeeds" python3 "$TEST_TMP/io.py" read
check "inject ten read errors (more than the retries)" \
	rpc "$sock" bdev_nvme_sim_inject sim:0 error -o 2 -t 2 -c 0x81 -n 10
check_fails "a read that keeps failing ends in CHECK CONDITION" python3 "$TEST_TMP/io.py" read
rpc "$sock" bdev_nvme_sim_inject sim:0 clear
check "inject a write timeout" rpc "$sock" bdev_nvme_sim_inject sim:0 timeout -o 1
check "a timed-out write is aborted and retried" timeout 30 python3 "$TEST_TMP/io.py" write
check "the log shows the timeout" grep -q "timed out (action: abort)" "$log"
check "a fatal controller status" rpc "$sock" bdev_nvme_sim_inject sim:0 fatal
check "the controller is reset" wait_for grep -q "resetting controller" "$log"
check "I/O works after the reset" timeout 30 python3 "$TEST_TMP/io.py" read

rpc "$sock" save_config > "$TEST_TMP/saved.json"
check "save_config has the controller" grep -q '"bdev_nvme_attach_controller"' "$TEST_TMP/saved.json"
check "save_config has the options" grep -q '"action_on_timeout": "abort"' "$TEST_TMP/saved.json"
check "iscsi_delete_target_node" rpc "$sock" iscsi_delete_target_node iqn.2016-06.io.spdk:disk1
check "delete_nvme_controller (old name)" rpc "$sock" delete_nvme_controller Nvme0
check_fails "its bdev is gone" rpc "$sock" bdev_get_bdevs -b Nvme0n1
check_fails "detaching it again fails" rpc "$sock" bdev_nvme_detach_controller Nvme0
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0" test $? -eq 0

# The legacy [Nvme] section.
cat > "$TEST_TMP/iscsi.conf" << EOF
[Nvme]
  TransportID "trtype:PCIe traddr:sim:3" Nvme3
  RetryCount 4
  TimeoutUsec 0
  ActionOnTimeout Reset
  AdminPollRate 100000
  IOPollRate 0
  HotplugEnable No
  HotplugPollRate 100000
[PortalGroup1]
  Portal DA1 127.0.0.1:$port
[InitiatorGroup2]
  InitiatorName ANY
  Netmask 127.0.0.1/32
[TargetNode1]
  TargetName disk1
  Mapping PortalGroup1 InitiatorGroup2
  AuthMethod None
  UseDigest Auto
  LUN0 Nvme3n1
  QueueDepth 64
EOF
if start_tgt "$sock" "$log" -m 0x1 --no-huge -s 1024 -c "$TEST_TMP/iscsi.conf"; then
	check "[Nvme] TransportID attaches Nvme3 with bdev Nvme3n1" rpc "$sock" bdev_get_bdevs -b Nvme3n1
	check "the LUN on it reads and writes" python3 "$TEST_TMP/io.py" read
	check "bdev_nvme_get_controllers -n Nvme3" rpc "$sock" bdev_nvme_get_controllers -n Nvme3
	stop_tgt "$TGT_PID" 20
	check "SIGTERM exits 0 (orderly shutdown of the controller)" test $? -eq 0
else
	fail "iscsi_tgt starts with an [Nvme] section"
fi
check "no sanitizer or assertion message" bash -c \
	"! grep -qE 'AddressSanitizer|runtime error:|Assertion .* failed' '$log' '$err'"
finish
