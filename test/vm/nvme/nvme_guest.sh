#!/usr/bin/env bash
# keel's userspace NVMe driver on an emulated drive, removed and added again under load: a
# Debian guest under QEMU (q35) has an NVMe controller behind a PCIe root port, bound to
# uio_pci_generic (or, with KEEL_VM_NVME_DRIVER=vfio-pci as nvme_vfio_guest.sh sets it, to
# vfio-pci behind QEMU's emulated IOMMU); the host-built iscsi_tgt runs in the guest (hugepages,
# --iova-mode=pa for uio, va for vfio) and exports the drive's namespace (LUN 0) and a RAM disk
# (LUN 1). The host drives it through QEMU's host forwards (the guest's RPC socket bridged to
# TCP, and its iSCSI portal): data written and verified on both LUNs; then, with 1 MiB reads and
# writes at queue depth 32 running on LUN 0, the drive is removed through QEMU's monitor
# (device_del). LUN 0 must fail cleanly, LUN 1 keep its data and serve, the target stay up;
# device_add brings the drive back, the hotplug monitor attaches it and it is exported again
# and written and verified, and the drive's backing file holds what was written. One
# PASS:/FAIL: line a step.
#
# Environment: KEEL_VM_NVME_DRIVER (uio_pci_generic, the default, or vfio-pci), KEEL_VM_LIMIT
# (hard limit of the guest run in seconds, default 330), KEEL_VM_CACHE (see test/vm/README.md).
source "$(dirname "$0")/../../common/autotest_common.sh"
source "$rootdir/test/vm/common/vm_common.sh"

here=$rootdir/test/vm/nvme
limit=${KEEL_VM_LIMIT:-330}
iscsi_port=$(free_port)
rpc_port=$(free_port)
while [ "$rpc_port" = "$iscsi_port" ]; do
	rpc_port=$(free_port)
done
qmp=$VM_RUN/qmp.sock
disk=$TEST_TMP/nvme.img
disk_mb=64
disk_blocks=$((disk_mb * 2048))
ram_mb=32
ram_blocks=$((ram_mb * 2048))
iqn=iqn.2016-06.io.spdk:disk1
writer=$rootdir/test/nvme/common/qd_writer.py
lun_io=$here/lun_io.py
driver=${KEEL_VM_NVME_DRIVER:-uio_pci_generic}
case $driver in
uio_pci_generic)
	# No IOMMU: the drive is given physical addresses.
	iova=pa launch_args=() qemu_args=()
	;;
vfio-pci)
	# QEMU's emulated IOMMU; keel maps its memory into it at virtual addresses, which may lie
	# above the default 39-bit IOVA width (they do in a sanitizer build): 48 bits.
	iova=va launch_args=(-a intel_iommu=on) qemu_args=(-device intel-iommu,aw-bits=48)
	;;
*)
	fail "KEEL_VM_NVME_DRIVER is uio_pci_generic or vfio-pci, not '$driver'"
	finish
	;;
esac

if ! why=$(vm_need_tools); then
	fail "guest: host tools ($why)"
	finish
fi
if ! command -v iscsi-perf > /dev/null 2>&1; then
	fail "host tool iscsi-perf (libiscsi-bin) is there"
	finish
fi
if [ ! -x "$ISCSI_TGT" ]; then
	fail "app/iscsi_tgt/iscsi_tgt is built"
	finish
fi

# The image: Debian's kernel, busybox and socat, the modules for virtio networking and
# uio_pci_generic. iscsi_tgt goes into the per-run overlay (it changes with every build).
t0=$SECONDS
if ! vm_build_image nvme \
	--packages busybox-static socat \
	--binaries /usr/bin/socat \
	--pkgfile /bin/busybox \
	--modules virtio_net virtio_pci uio_pci_generic vfio_pci vfio_iommu_type1 \
	--file "$rootdir/test/vm/common/init:/init" \
	--file "$rootdir/test/vm/common/guest-lib.sh:/etc/keel-vm/guest-lib.sh"; then
	fail "guest: image built from Debian packages ($VM_ERROR)"
	finish
fi
pass "guest: image built from Debian packages or found in $(vm_cache_dir) ($((SECONDS - t0)) s)"

overlay=$TEST_TMP/overlay
mkdir -p "$overlay/etc/keel-vm" "$overlay/usr/bin"

# copy_with_libs SRC DEST: a host binary into the overlay with every library ldd finds for it,
# at the host's paths.
copy_with_libs() {
	local src=$1 dest=$2 lib
	mkdir -p "$overlay/$(dirname "$dest")"
	cp -L "$src" "$overlay/$dest" || return 1
	for lib in $(ldd "$src" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		if [ ! -e "$overlay/$lib" ]; then
			mkdir -p "$overlay/$(dirname "$lib")"
			cp -L "$lib" "$overlay/$lib" || return 1
		fi
	done
}

# The DPDK environment of a shared build loads its drivers from a plugin directory; keel needs
# the ring mempool driver only (the other drivers would need libraries the guest lacks).
copy_dpdk_plugins() {
	local eal dir plugin
	eal=$(ldd "$ISCSI_TGT" | awk '/librte_eal/ { print $3 }')
	[ -n "$eal" ] || return 0
	dir=$(grep -aoE '/[a-z0-9_/.-]*/dpdk/pmds-[0-9.]+' "$eal" | head -n 1)
	[ -n "$dir" ] || return 0
	plugin=$(find "$dir" -name 'librte_mempool_ring.so.*' | head -n 1)
	[ -n "$plugin" ] || return 1
	# The environment loads names ending in .so or .so.<ABI version> (the directory's suffix).
	copy_with_libs "$plugin" "$dir/librte_mempool_ring.so.${dir##*pmds-}"
}

if ! copy_with_libs "$ISCSI_TGT" /usr/bin/iscsi_tgt || ! copy_dpdk_plugins; then
	fail "iscsi_tgt and its libraries copied into the guest's overlay"
	finish
fi
cp "$here/guest/run.sh" "$overlay/etc/keel-vm/run"
chmod +x "$overlay/etc/keel-vm/run"
cat > "$overlay/etc/keel-vm/config" << EOF
NVME_ID="1b36 0010"
DRIVER=$driver
HUGEPAGES=320
TGT_ARGS="-m 0x1 --iova-mode=$iova -s 512 --empty"
HOST_TIMEOUT=$limit
EOF

truncate -s "${disk_mb}M" "$disk"

R=(python3 "$RPC_PY" -s 127.0.0.1 -p "$rpc_port" -t 60)

qmp_call() {
	python3 "$rootdir/test/vm/common/qmp.py" "$qmp" "$@"
}

# bdev_blocks NAME: the bdev's block count, or nothing.
bdev_blocks() {
	"${R[@]}" bdev_get_bdevs -b "$1" 2> /dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["num_blocks"])' 2> /dev/null
}

# wait_bdev NAME SECONDS: until the bdev exists.
wait_bdev() {
	local i
	for ((i = 0; i < $2 * 2; i++)); do
		[ -n "$(bdev_blocks "$1")" ] && return 0
		sleep 0.5
	done
	return 1
}

# wait_bdev_gone NAME SECONDS
wait_bdev_gone() {
	local i
	for ((i = 0; i < $2 * 2; i++)); do
		"${R[@]}" bdev_get_bdevs -b "$1" > /dev/null 2>&1 || return 0
		sleep 0.5
	done
	return 1
}

# lun_luns: the bdev names of the target node's LUNs, space-separated, by LUN id.
lun_luns() {
	"${R[@]}" iscsi_get_target_nodes | python3 -c '
import json, sys
n = [t for t in json.load(sys.stdin) if t["name"].endswith(":disk1")][0]
print(" ".join(l["bdev_name"] for l in sorted(n["luns"], key=lambda l: l["lun_id"])))'
}

# wait_ops BDEV N SECONDS: until the bdev completed N more reads and N more writes than when
# called (its I/O statistics); OPS says how many it saw.
wait_ops() {
	local i r0="" w0="" r w
	OPS=""
	for ((i = 0; i < $3 * 2; i++)); do
		read -r r w < <("${R[@]}" bdev_get_iostat -b "$1" 2> /dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["bdevs"][0]
print(d["num_read_ops"], d["num_write_ops"])' 2> /dev/null)
		if [ -n "$r" ]; then
			[ -n "$r0" ] || { r0=$r && w0=$w; }
			OPS="$((r - r0)) reads, $((w - w0)) writes in $((i / 2)) s"
			[ $((r - r0)) -ge "$2" ] && [ $((w - w0)) -ge "$2" ] && return 0
		fi
		sleep 0.5
	done
	return 1
}

lun_io() {
	timeout 300 python3 "$lun_io" "$iscsi_port" "$iqn" "$@"
}

configure() {
	local addr=$1
	"${R[@]}" bdev_malloc_create -b Malloc0 $ram_mb 512 &&
		"${R[@]}" iscsi_create_portal_group 1 10.0.2.15:3260 &&
		"${R[@]}" iscsi_create_initiator_group 2 ANY 10.0.2.2/32 &&
		"${R[@]}" iscsi_create_target_node disk1 Disk1 "Nvme0n1:0 Malloc0:1" 1:2 64 -d
}

# The host's part, run while the guest waits: every step a result line. Returns non-zero if
# the test cannot go on.
host_test() {
	local addr=$1 i out perf_pid writer_pid perf_rc writer_rc blocks

	check "RPC through the host forward (127.0.0.1:$rpc_port) answers" \
		"${R[@]}" spdk_get_version || return 1
	if ! "${R[@]}" bdev_nvme_attach_controller -b Nvme0 -t PCIe -a "$addr"; then
		fail "bdev_nvme_attach_controller -b Nvme0 -t PCIe -a $addr ($driver)"
		return 1
	fi
	pass "bdev_nvme_attach_controller -b Nvme0 -t PCIe -a $addr ($driver)"
	# The hotplug monitor goes on once the drive is attached: it would take the drive itself.
	check "bdev_nvme_set_hotplug -e (period 500 ms)" \
		"${R[@]}" bdev_nvme_set_hotplug -e -r 500000
	blocks=$(bdev_blocks Nvme0n1)
	check "bdev Nvme0n1 has the drive's $disk_blocks blocks (${blocks:-none})" \
		test "${blocks:-0}" -eq $disk_blocks
	if ! configure "$addr" > "$TEST_TMP/config.log" 2>&1; then
		cat "$TEST_TMP/config.log"
		fail "target disk1 with Nvme0n1 (LUN 0) and Malloc0 (LUN 1) on 10.0.2.15:3260"
		return 1
	fi
	pass "target disk1 with Nvme0n1 (LUN 0) and Malloc0 (LUN 1) on 10.0.2.15:3260"

	check "NVMe LUN 0: eight 1 MiB patterns written" lun_io 0 write nvme-a $disk_blocks 8
	check "NVMe LUN 0: the patterns read back equal" lun_io 0 verify nvme-a $disk_blocks 8
	check "RAM LUN 1: eight 1 MiB patterns written" lun_io 1 write ram-a $ram_blocks 8
	check "RAM LUN 1: the patterns read back equal" lun_io 1 verify ram-a $ram_blocks 8

	# Load on LUN 0: 1 MiB reads (iscsi-perf) and 1 MiB writes through R2T, each at queue
	# depth 32, until the drive goes.
	timeout 150 iscsi-perf -m 32 -b 2048 -t 120 "iscsi://127.0.0.1:$iscsi_port/$iqn/0" \
		> "$TEST_TMP/perf.out" 2>&1 &
	perf_pid=$!
	timeout 150 python3 "$writer" "$iscsi_port" "$iqn" 0 --qd 32 --size 1048576 \
		--seconds 120 --stop-after-error 2 --blocks-total $disk_blocks \
		> "$TEST_TMP/writer.out" 2>&1 &
	writer_pid=$!
	if wait_ops Nvme0n1 16 90; then
		pass "1 MiB reads and writes complete on Nvme0n1 under the load ($OPS)"
	else
		fail "1 MiB reads and writes complete on Nvme0n1 under the load ($OPS)"
	fi

	check "device_del of the NVMe drive through QEMU's monitor" \
		qmp_call device_del '{"id": "nvme1"}'
	check "the guest releases the drive (gone from QEMU within 60 s)" \
		qmp_call wait-gone nvme1 60

	wait "$perf_pid"
	perf_rc=$?
	wait "$writer_pid"
	writer_rc=$?
	tail -c 400 "$TEST_TMP/perf.out"
	echo
	cat "$TEST_TMP/writer.out"
	check "iscsi-perf ends by itself (no hang; status $perf_rc)" test "$perf_rc" -ne 124
	check "every 1 MiB write was answered (no lost completion; status $writer_rc)" \
		test "$writer_rc" -eq 0
	check "writes at queue depth 32 succeeded before the removal" python3 -c \
		"import json,sys; d=json.load(open('$TEST_TMP/writer.out')); sys.exit(d['good'] == 0)"
	check "writes after the removal failed with CHECK CONDITION" python3 -c \
		"import json,sys; d=json.load(open('$TEST_TMP/writer.out')); sys.exit(not (d['failed'] > 0 and d['first_status'] == 2))"

	check "the target still answers RPC after the removal" "${R[@]}" spdk_get_version
	check "bdev Nvme0n1 is gone" wait_bdev_gone Nvme0n1 30
	check_fails "controller Nvme0 is gone" "${R[@]}" bdev_nvme_get_controllers -n Nvme0
	out=$(lun_luns)
	check "target disk1 keeps LUN 1 only (LUNs: $out)" test "$out" = Malloc0
	check "RAM LUN 1: the patterns written before the removal read back equal" \
		lun_io 1 verify ram-a $ram_blocks 8
	check "RAM LUN 1: new patterns written" lun_io 1 write ram-b $ram_blocks 8
	check "RAM LUN 1: the new patterns read back equal" lun_io 1 verify ram-b $ram_blocks 8

	check "device_add brings the drive back behind the root port" qmp_call device_add \
		'{"driver": "nvme", "id": "nvme1", "bus": "rp1", "serial": "keelnvme0002", "drive": "nvmedisk"}'
	if ! wait_bdev HotInNvme0n1 90; then
		fail "the hotplug monitor attaches the drive again as HotInNvme0 (bdev HotInNvme0n1)"
		"${R[@]}" bdev_nvme_get_controllers
		return 1
	fi
	pass "the hotplug monitor attaches the drive again as HotInNvme0 (bdev HotInNvme0n1)"
	check "iscsi_target_node_add_lun disk1 HotInNvme0n1 -i 0" \
		"${R[@]}" iscsi_target_node_add_lun "$iqn" HotInNvme0n1 -i 0
	out=$(lun_luns)
	check "target disk1 has LUN 0 and LUN 1 again (LUNs: $out)" test "$out" = "HotInNvme0n1 Malloc0"
	check "the drive again: eight 1 MiB patterns written on LUN 0" \
		lun_io 0 write nvme-b $disk_blocks 8
	check "the drive again: the patterns read back equal" lun_io 0 verify nvme-b $disk_blocks 8
	out=$(timeout 60 iscsi-perf -m 32 -b 2048 -t 5 "iscsi://127.0.0.1:$iscsi_port/$iqn/0" 2>&1)
	echo "$out" | tail -c 200
	echo
	check "the drive again: 1 MiB reads at queue depth 32" bash -c "echo '$out' | grep -q finished"
	check "the RAM LUN's data is intact after all that" lun_io 1 verify ram-b $ram_blocks 8
	host_done=1
	return 0
}

host_done=0
handler() {
	local cmd=$1
	shift
	case $cmd in
	serve)
		if host_test "$@"; then
			vm_reply ok
		else
			vm_reply error
		fi
		;;
	*)
		echo "unknown request from the guest: $cmd"
		vm_reply "error unknown request"
		;;
	esac
}

if ! vm_start "$overlay" "$limit" -m 1280 -M "$qmp" "${launch_args[@]}" \
	-F "127.0.0.1:$iscsi_port=10.0.2.15:3260" -F "127.0.0.1:$rpc_port=10.0.2.15:5260" -- \
	"${qemu_args[@]}" -device pcie-root-port,id=rp1,chassis=1,slot=1 \
	-blockdev "node-name=nvmedisk,driver=raw,file.driver=file,file.filename=$disk" \
	-device nvme,id=nvme1,bus=rp1,serial=keelnvme0001,drive=nvmedisk; then
	fail "guest: QEMU starts"
	finish
fi
if ! vm_serve handler "$limit"; then
	vm_dump_logs
fi
sed -n "/^--- iscsi_tgt's log/,\$p" "$VM_RUN/console.log" | tr -d '\r' > "$TEST_TMP/guest_tgt.log"
echo "--- the guest's iscsi_tgt log"
head -n 100 "$TEST_TMP/guest_tgt.log"
# What the driver saw (the guest's log is only there once the guest finished).
if [ "$host_done" = 1 ]; then
	why=$(grep -o 'nvme 0000:[0-9a-f:.]*: controller removed ([^)]*)' "$TEST_TMP/guest_tgt.log" |
		head -n 1)
	check "the driver noticed the removal itself (${why:-no notice})" test -n "$why"
	check_fails "no error or warning in the guest's iscsi_tgt log" \
		grep -E '\*(ERROR|WARNING)\*|Sanitizer|runtime error' "$TEST_TMP/guest_tgt.log"
	# QEMU has ended: what the guest wrote to the drive the second time is in the file.
	check "the backing file holds the patterns written after the drive came back" \
		python3 "$lun_io" --file "$disk" verify nvme-b $disk_blocks 8
fi
finish
