#!/bin/sh
# The guest's side of the NVMe hot-removal test (busybox sh, run by /init as /etc/keel-vm/run):
# binds the emulated NVMe drive to uio_pci_generic (by vendor and device id, so a drive added
# later is bound too), reserves hugepages, starts iscsi_tgt with physical addresses as IOVAs and
# bridges its RPC socket to TCP port 5260 (the host reaches it and the iSCSI portal through
# QEMU's host forwards). Then it asks the host to run the test ("@@ serve ADDR"), waits for the
# answer and stops iscsi_tgt, which must exit 0. One result line a step.
. /etc/keel-vm/guest-lib.sh
. /etc/keel-vm/config

TGT_LOG=/tmp/tgt.log
RPC_SOCK=/tmp/rpc.sock

# nvme_addr: the PCI address of the first NVMe controller (class 01:08:02).
nvme_addr() {
	local d
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/class")" = 0x010802 ]; then
			basename "$d"
			return 0
		fi
	done
	return 1
}

bind_driver() {
	local addr=$1 i=0
	# new_id makes the driver take every QEMU NVMe device (1b36:0010), present or to come.
	echo "$NVME_ID" > "/sys/bus/pci/drivers/$DRIVER/new_id" || return 1
	while [ $i -lt 50 ]; do
		if [ "$(basename "$(readlink "/sys/bus/pci/devices/$addr/driver")")" = "$DRIVER" ]
		then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

hugepages() {
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages || return 1
	echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
	local got
	got=$(cat /proc/sys/vm/nr_hugepages)
	echo "hugepages: $got of $HUGEPAGES"
	[ "$got" -ge "$HUGEPAGES" ]
}

start_tgt() {
	local i=0
	# The environment refuses to load its plugins from under a world-writable directory, and
	# the initramfs root is one.
	chmod 755 /
	# shellcheck disable=SC2086 # TGT_ARGS are words
	/usr/bin/iscsi_tgt -r $RPC_SOCK $TGT_ARGS > $TGT_LOG 2>&1 &
	TGT_PID=$!
	while [ $i -lt 600 ]; do
		kill -0 $TGT_PID 2> /dev/null || return 1
		[ -S $RPC_SOCK ] && break
		sleep 0.1
		i=$((i + 1))
	done
	[ -S $RPC_SOCK ] || return 1
	socat TCP-LISTEN:5260,reuseaddr,fork UNIX-CONNECT:$RPC_SOCK 2> /tmp/socat.log &
	SOCAT_PID=$!
	sleep 0.5
	kill -0 $SOCAT_PID
}

stop_tgt() {
	local i=0
	kill -TERM $TGT_PID 2> /dev/null || return 1
	while [ $i -lt 300 ]; do
		if ! kill -0 $TGT_PID 2> /dev/null; then
			wait $TGT_PID
			return $?
		fi
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL $TGT_PID
	wait $TGT_PID
	return 124
}

ADDR=$(nvme_addr)
if [ -z "$ADDR" ]; then
	vm_fail "the guest sees an NVMe controller (PCI class 01:08:02)"
	lspci > /dev/console 2>&1
	exit 1
fi
vm_pass "the guest sees the emulated NVMe controller at $ADDR"
vm_check "the drive at $ADDR is bound to $DRIVER" bind_driver "$ADDR" || exit 1
vm_check "$HUGEPAGES hugepages of 2 MiB reserved" hugepages || exit 1
if ! vm_check "iscsi_tgt starts ($TGT_ARGS), RPC bridged to TCP 5260" start_tgt
then
	cat $TGT_LOG > /dev/console
	exit 1
fi

VM_HOST_TIMEOUT=$HOST_TIMEOUT vm_host serve "$ADDR" > /dev/console 2>&1

kill $SOCAT_PID 2> /dev/null
if kill -0 $TGT_PID 2> /dev/null; then
	vm_pass "iscsi_tgt still runs after the test"
	stop_tgt
	rc=$?
	if [ $rc -eq 0 ]; then
		vm_pass "iscsi_tgt exits 0 on SIGTERM"
	else
		vm_fail "iscsi_tgt exits 0 on SIGTERM (status $rc)"
	fi
else
	wait $TGT_PID
	vm_fail "iscsi_tgt still runs after the test (it exited with status $?)"
fi
echo "--- iscsi_tgt's log" > /dev/console
cat $TGT_LOG > /dev/console
[ "$VM_FAILED" -eq 0 ]
