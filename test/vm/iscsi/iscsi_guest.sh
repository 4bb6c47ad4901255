#!/usr/bin/env bash
# open-iscsi, the Linux kernel initiator, against iscsi_tgt: a Debian guest under QEMU reaches
# the target on the host's loopback only through a guestfwd portal (10.0.2.100:3260) and runs
# discovery, then each scenario (plain, CHAP, mutual CHAP, digests, two LUNs, an AIO LUN the
# host checks afterwards, the target restarted under a logged-in initiator) with ext4, files
# checked by SHA-256, e2fsck and raw O_DIRECT patterns. One PASS:/FAIL: line a step.
#
# Environment: KEEL_VM_SCENARIOS (default: all, in order), KEEL_VM_LIMIT (hard limit of the guest
# run in seconds, default 420), KEEL_VM_CACHE (see test/vm/README.md).
source "$(dirname "$0")/../../common/autotest_common.sh"
source "$rootdir/test/vm/common/vm_common.sh"

here=$rootdir/test/vm/iscsi
scenarios=${KEEL_VM_SCENARIOS:-discovery plain chap mutual digest twoluns aio restart}
limit=${KEEL_VM_LIMIT:-420}
sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
iqn_base=iqn.2016-06.io.spdk
initiator=iqn.2004-10.com.example:keel-vm-guest
lun_mb=32
fs_mb=16
chap_user=keelguest
chap_secret=guest-secret-0123
mchap_user=keeltarget
mchap_secret=target-secret-4567
aio0=$TEST_TMP/aio0.img
aio1=$TEST_TMP/aio1.img
tgt_args=(-m 0x1 --no-huge -s 1024 --empty)
tgt_started=0

if ! why=$(vm_need_tools); then
	fail "guest: host tools ($why)"
	finish
fi

# The image: Debian's kernel, open-iscsi, e2fsprogs and busybox with their libraries, the
# modules for virtio networking, SCSI disks, the iSCSI initiator and ext4.
t0=$SECONDS
if ! vm_build_image iscsi \
	--packages open-iscsi e2fsprogs busybox-static \
	--binaries /sbin/iscsid /sbin/iscsiadm /sbin/mke2fs /sbin/e2fsck \
	--pkgfile /bin/busybox \
	--modules virtio_net virtio_pci crc32c_generic crc32c_intel sd_mod iscsi_tcp ext4 \
	--file "$rootdir/test/vm/common/init:/init" \
	--file "$rootdir/test/vm/common/guest-lib.sh:/etc/keel-vm/guest-lib.sh"; then
	fail "guest: image built from Debian packages ($VM_ERROR)"
	finish
fi
pass "guest: image built from Debian packages or found in $(vm_cache_dir) ($((SECONDS - t0)) s)"

# configure_tgt: every target of the run, by RPC (the restart scenario calls it again).
configure_tgt() {
	local b
	for b in Malloc0 Malloc1 Malloc2 Malloc3 Malloc4 Malloc5; do
		rpc "$sock" bdev_malloc_create -b $b $lun_mb 512 > /dev/null || return 1
	done
	rpc "$sock" bdev_aio_create "$aio0" AIO0 512 > /dev/null &&
		rpc "$sock" bdev_aio_create "$aio1" AIO1 512 > /dev/null &&
		rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" &&
		rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 &&
		rpc "$sock" iscsi_create_auth_group 1 \
			-c "user:$chap_user secret:$chap_secret muser:$mchap_user msecret:$mchap_secret" &&
		rpc "$sock" iscsi_create_target_node plain plain Malloc0:0 1:2 64 -d &&
		rpc "$sock" iscsi_create_target_node chap chap Malloc1:0 1:2 64 -r -g 1 &&
		rpc "$sock" iscsi_create_target_node mutual mutual Malloc2:0 1:2 64 -r -m -g 1 &&
		rpc "$sock" iscsi_create_target_node digest digest Malloc3:0 1:2 64 -d -H -D &&
		rpc "$sock" iscsi_create_target_node twoluns twoluns "Malloc4:0 Malloc5:1" 1:2 64 -d &&
		rpc "$sock" iscsi_create_target_node aio aio AIO0:0 1:2 64 -d &&
		rpc "$sock" iscsi_create_target_node restart restart AIO1:0 1:2 64 -d
}

start_and_configure() {
	start_tgt "$sock" "$log" "${tgt_args[@]}" && configure_tgt > "$TEST_TMP/config.log" 2>&1
}

truncate -s "${lun_mb}M" "$aio0" "$aio1"
if ! start_and_configure; then
	fail "iscsi_tgt starts with the guest's targets"
	cat "$TEST_TMP/config.log" "$log"
	finish
fi
pass "iscsi_tgt starts with the guest's targets on 127.0.0.1:$port"

# check_file NAME PATTERNS ONE_SUM: the AIO LUN's backing file, read on the host after the guest
# logged out. PATTERNS is "offset:size:sha256," repeated; ONE_SUM is one.bin's SHA-256.
check_file() {
	local name=$1 patterns=$2 one_sum=$3 p off size sum got ok=0 file=$aio0
	IFS=, read -r -a items <<< "$patterns"
	for p in "${items[@]}"; do
		[ -n "$p" ] || continue
		IFS=: read -r off size sum <<< "$p"
		got=$(dd if="$file" bs=512 skip=$((off / 512)) count=$((size / 512)) 2> /dev/null |
			sha256sum | cut -d' ' -f1)
		if [ "$got" = "$sum" ]; then
			pass "$name: the backing file holds the guest's $size-byte pattern at $off"
		else
			fail "$name: the backing file holds the guest's $size-byte pattern at $off"
			ok=1
		fi
	done
	if e2fsck -fn "$file" > "$TEST_TMP/e2fsck.log" 2>&1; then
		pass "$name: e2fsck on the host finds the backing file's file system clean"
	else
		cat "$TEST_TMP/e2fsck.log"
		fail "$name: e2fsck on the host finds the backing file's file system clean"
		ok=1
	fi
	got=$(debugfs -R "cat /one.bin" "$file" 2> /dev/null | sha256sum | cut -d' ' -f1)
	if [ "$got" = "$one_sum" ]; then
		pass "$name: a file the guest wrote reads back on the host by SHA-256"
	else
		fail "$name: a file the guest wrote reads back on the host by SHA-256"
		ok=1
	fi
	return $ok
}

# restart_target: SIGTERM, start again on the same port with the same configuration, wait for
# the guest's initiator to come back.
restart_target() {
	local rc i
	stop_tgt "$TGT_PID" 15
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "restart: iscsi_tgt exits 0 on SIGTERM with the guest logged in"
	else
		fail "restart: iscsi_tgt exits 0 on SIGTERM with the guest logged in (status $rc)"
		tail -n 20 "$log"
	fi
	mv "$log" "$log.1"
	if ! start_and_configure; then
		cat "$TEST_TMP/config.log" "$log"
		return 1
	fi
	for ((i = 0; i < 120; i++)); do
		if rpc "$sock" iscsi_get_connections 2> /dev/null | grep -q '"target_node_name"'; then
			echo "the initiator reconnected $((i / 2)) s after the restart"
			return 0
		fi
		sleep 0.5
	done
	echo "no connection within 60 s of the restart"
	return 1
}

handler() {
	local cmd=$1
	shift
	case $cmd in
	check-file)
		if check_file "$@"; then
			vm_reply ok
		else
			vm_reply error
		fi
		;;
	restart-target)
		if restart_target; then
			pass "restart: iscsi_tgt restarted on 127.0.0.1:$port, the initiator reconnected"
			vm_reply ok
		else
			fail "restart: iscsi_tgt restarted on 127.0.0.1:$port, the initiator reconnected"
			vm_reply error
		fi
		;;
	*)
		echo "unknown request from the guest: $cmd"
		vm_reply "error unknown request"
		;;
	esac
}

overlay=$TEST_TMP/overlay
mkdir -p "$overlay/etc/keel-vm"
cp "$here/guest/run.sh" "$overlay/etc/keel-vm/run"
cp "$here/guest/iscsid.conf" "$overlay/etc/keel-vm/iscsid.conf"
chmod +x "$overlay/etc/keel-vm/run"
cat > "$overlay/etc/keel-vm/config" << EOF
SCENARIOS="$scenarios"
HOST_PORT=$port
IQN_BASE=$iqn_base
TARGETS="plain chap mutual digest twoluns aio restart"
INITIATOR=$initiator
LUN_MB=$lun_mb
FS_MB=$fs_mb
CHAP_USER=$chap_user
CHAP_SECRET=$chap_secret
MCHAP_USER=$mchap_user
MCHAP_SECRET=$mchap_secret
EOF

if ! vm_start "$overlay" "$limit" -m 768 -f "10.0.2.100:3260=127.0.0.1:$port"; then
	fail "guest: QEMU starts"
	finish
fi
if ! vm_serve handler "$limit"; then
	vm_dump_logs
fi
check "iscsi_tgt is still running after the guest" kill -0 "$TGT_PID"
if grep -qiE 'iSCSI|TCP' "$VM_RUN/socat.log" 2> /dev/null; then
	echo "socat wrote messages to its log:"
	tail -n 5 "$VM_RUN/socat.log"
fi
stop_tgt "$TGT_PID" 15
check "iscsi_tgt exits 0 on SIGTERM after the guest" test $? -eq 0
finish
