#!/bin/sh
# The guest's side of the open-iscsi test (busybox sh, run by /init as /etc/keel-vm/run): starts
# iscsid, discovers keel's targets through the forwarded portal and runs each scenario the host
# configured: login, the LUN's size, an ext4 file system with files checked by SHA-256, raw
# O_DIRECT patterns, logout, login again and everything checked again. One result line a step.
. /etc/keel-vm/guest-lib.sh
. /etc/keel-vm/config

# The portal the guest logs in to; the target advertises 127.0.0.1:$HOST_PORT, which the guest
# cannot reach.
PORTAL=10.0.2.100:3260
FS_SIZE=$((FS_MB * 1024 * 1024))
# Raw patterns "bytes@offset" past the file system, O_DIRECT, up to 4 MiB, the last one ending
# at the LUN's end.
LUN_SIZE=$((LUN_MB * 1024 * 1024))
PATTERNS="4096@$FS_SIZE 512@$((FS_SIZE + 8704)) 131072@$((FS_SIZE + 12288))
	1048576@$((FS_SIZE + 524288)) 4194304@$((FS_SIZE + 4194304))
	4194304@$((LUN_SIZE - 4194304))"
DATA=/tmp/data
mkdir -p $DATA /mnt/t

iscsiadm_q() {
	iscsiadm "$@" > /tmp/iscsiadm.out 2>&1
	local rc=$?
	cat /tmp/iscsiadm.out > /dev/console
	return $rc
}

start_iscsid() {
	mkdir -p /etc/iscsi /var/lib/iscsi /run/lock/iscsi /var/lock/iscsi
	cp /etc/keel-vm/iscsid.conf /etc/iscsi/iscsid.conf
	echo "InitiatorName=$INITIATOR" > /etc/iscsi/initiatorname.iscsi
	iscsid
	local i=0
	while [ $i -lt 50 ]; do
		if iscsiadm -m session > /dev/null 2>&1 || [ $? -eq 21 ]; then
			return 0
		fi
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# node_new IQN NAME=VALUE...: a node record for IQN at the forwarded portal with settings.
node_new() {
	local iqn=$1 kv
	shift
	iscsiadm_q -m node -T "$iqn" -p $PORTAL -o new || return 1
	for kv in "$@"; do
		iscsiadm_q -m node -T "$iqn" -p $PORTAL -o update -n "${kv%%=*}" -v "${kv#*=}" || return 1
	done
}

login() {
	timeout 120 iscsiadm -m node -T "$1" -p $PORTAL --login > /tmp/iscsiadm.out 2>&1
	local rc=$?
	cat /tmp/iscsiadm.out > /dev/console
	return $rc
}

logout() {
	timeout 120 iscsiadm -m node -T "$1" -p $PORTAL --logout > /tmp/iscsiadm.out 2>&1
	local rc=$?
	cat /tmp/iscsiadm.out > /dev/console
	return $rc
}

# session_dir IQN: the sysfs directory of IQN's session.
session_dir() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		if [ "$(cat "$s/targetname" 2> /dev/null)" = "$1" ]; then
			readlink -f "$s/device"
			return 0
		fi
	done
	return 1
}

# lun_dev IQN LUN: waits (30 s at most) for LUN of IQN's session to be a block device; prints
# /dev/sdX.
lun_dev() {
	local i=0 s b
	while [ $i -lt 150 ]; do
		s=$(session_dir "$1")
		if [ -n "$s" ]; then
			for b in "$s"/target*/*:*:*:"$2"/block/*; do
				if [ -b "/dev/${b##*/}" ]; then
					echo "/dev/${b##*/}"
					return 0
				fi
			done
		fi
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# devs_gone IQN: no session for IQN any more.
session_gone() {
	! session_dir "$1" > /dev/null
}

dev_size_is() {
	[ "$(blockdev --getsize64 "$1")" = "$2" ]
}

mkfs_and_fill() {
	local dev=$1 tag=$2 i
	/sbin/mke2fs -t ext4 -q -F "$dev" "$((FS_MB * 1024))k" || return 1
	mount -t ext4 "$dev" /mnt/t || return 1
	mkdir -p /mnt/t/small
	head -c 1048576 /dev/urandom > /mnt/t/one.bin
	head -c 3145728 /dev/urandom > /mnt/t/three.bin
	i=0
	while [ $i -lt 40 ]; do
		head -c $((i * 97 + 1)) /dev/urandom > /mnt/t/small/f$i
		i=$((i + 1))
	done
	(cd /mnt/t && find . -type f | sort | xargs sha256sum) > "$DATA/$tag.sums"
	sync
	umount /mnt/t
}

files_check() {
	local dev=$1 tag=$2 rc
	echo 3 > /proc/sys/vm/drop_caches
	mount -t ext4 "$dev" /mnt/t || return 1
	(cd /mnt/t && sha256sum -c "$DATA/$tag.sums" > /dev/null)
	rc=$?
	umount /mnt/t || return 1
	return $rc
}

fsck_clean() {
	/sbin/e2fsck -fn "$1"
}

patterns_write() {
	local dev=$1 tag=$2 p size off
	: > "$DATA/$tag.raw"
	for p in $PATTERNS; do
		size=${p%@*}
		off=${p#*@}
		head -c "$size" /dev/urandom > "$DATA/pat"
		dd if="$DATA/pat" of="$dev" bs="$size" count=1 seek="$off" \
			oflag=seek_bytes,direct conv=notrunc 2> /dev/null || return 1
		echo "$off $size $(sha256sum < "$DATA/pat" | cut -d' ' -f1)" >> "$DATA/$tag.raw"
	done
}

patterns_check() {
	local dev=$1 tag=$2 off size sum got
	while read -r off size sum; do
		got=$(dd if="$dev" bs="$size" count=1 skip="$off" iflag=skip_bytes,direct \
			2> /dev/null | sha256sum | cut -d' ' -f1)
		if [ "$got" != "$sum" ]; then
			echo "pattern of $size bytes at $off: $got, wrote $sum"
			return 1
		fi
	done < "$DATA/$tag.raw"
}

patterns_write_check() {
	patterns_write "$1" "$2" && patterns_check "$1" "$2"
}

# fill S DEV TAG: a file system, files, fsck, raw patterns; one result line each.
fill() {
	vm_check "$1: mkfs.ext4 and files written ($3)" mkfs_and_fill "$2" "$3" &&
		vm_check "$1: files read back by SHA-256 ($3)" files_check "$2" "$3"
	vm_check "$1: e2fsck clean ($3)" fsck_clean "$2"
	vm_check "$1: O_DIRECT patterns of 512 B to 4 MiB written and read back ($3)" \
		patterns_write_check "$2" "$3"
}

# verify S DEV TAG: after a new login, everything written is still there.
verify() {
	vm_check "$1: files still there after logging in again ($3)" files_check "$2" "$3"
	vm_check "$1: e2fsck still clean ($3)" fsck_clean "$2"
	vm_check "$1: O_DIRECT patterns still there ($3)" patterns_check "$2" "$3"
}

# login_lun S IQN LUN SIZE_BYTES: logs in and sets DEV to the LUN's disk; a result line a step.
login_lun() {
	DEV=""
	vm_check "$1: login to $2 at $PORTAL" login "$2" || return 1
	DEV=$(lun_dev "$2" "$3")
	if [ -z "$DEV" ]; then
		vm_fail "$1: LUN $3 appears as a disk"
		return 1
	fi
	vm_pass "$1: LUN $3 appears as $DEV"
	vm_check "$1: $DEV has $4 bytes" dev_size_is "$DEV" "$4"
}

logout_check() {
	vm_check "$1: logout" logout "$2"
	vm_check "$1: the session is gone after logout" session_gone "$2"
}

# cycle S IQN [LUN...]: login, fill every LUN, logout, login, verify, logout.
cycle() {
	local s=$1 iqn=$2 lun dev
	shift 2
	[ $# -gt 0 ] || set -- 0
	login_lun "$s" "$iqn" "$1" "$LUN_SIZE" || return 1
	for lun in "$@"; do
		dev=$(lun_dev "$iqn" "$lun")
		if [ "$lun" != "$1" ]; then
			vm_check "$s: LUN $lun appears as ${dev:-nothing}" test -n "$dev" || continue
			vm_check "$s: $dev has $LUN_SIZE bytes" dev_size_is "$dev" "$LUN_SIZE"
		fi
		fill "$s" "$dev" "$s-lun$lun"
	done
	logout_check "$s" "$iqn"
	login_lun "$s" "$iqn" "$1" "$LUN_SIZE" || return 1
	for lun in "$@"; do
		dev=$(lun_dev "$iqn" "$lun")
		verify "$s" "$dev" "$s-lun$lun"
	done
}

session_param() {
	iscsiadm -m session -P 2 2> /dev/null | grep -i "^[[:space:]]*$1:" | head -n 1 |
		sed 's/.*: *//'
}

sessions_logged_in() {
	iscsiadm -m session -P 1 2> /dev/null > /tmp/state
	grep -q 'iSCSI Session State: LOGGED_IN' /tmp/state &&
		grep -q 'iSCSI Connection State: LOGGED IN' /tmp/state
}

# --- scenarios ---------------------------------------------------------------------------------

sc_discovery() {
	local t
	timeout 60 iscsiadm -m discovery -t sendtargets -p $PORTAL > /tmp/disc 2>&1
	cat /tmp/disc > /dev/console
	for t in $TARGETS; do
		vm_check "discovery: SendTargets through $PORTAL lists $IQN_BASE:$t" \
			grep -q " $IQN_BASE:$t\$" /tmp/disc
	done
	vm_check "discovery: the advertised portal is the host's 127.0.0.1:$HOST_PORT" \
		grep -q "^127.0.0.1:$HOST_PORT," /tmp/disc
	# Those records point at an address the guest cannot reach: log in through $PORTAL.
	iscsiadm_q -m node -o delete
}

sc_plain() {
	node_new "$IQN_BASE:plain" || vm_fail "plain: node record"
	cycle plain "$IQN_BASE:plain"
	logout_check plain "$IQN_BASE:plain"
}

sc_chap() {
	local iqn=$IQN_BASE:chap
	node_new "$iqn" node.session.auth.authmethod=CHAP \
		node.session.auth.username="$CHAP_USER" node.session.auth.password=wrong-secret-1234 ||
		vm_fail "chap: node record"
	if login "$iqn"; then
		vm_fail "chap: a wrong secret is refused"
		logout "$iqn"
	else
		vm_pass "chap: a wrong secret is refused"
	fi
	iscsiadm_q -m node -T "$iqn" -p $PORTAL -o update -n node.session.auth.password \
		-v "$CHAP_SECRET"
	cycle chap "$iqn"
	logout_check chap "$iqn"
}

sc_mutual() {
	local iqn=$IQN_BASE:mutual
	node_new "$iqn" node.session.auth.authmethod=CHAP \
		node.session.auth.username="$CHAP_USER" node.session.auth.password="$CHAP_SECRET" \
		node.session.auth.username_in="$MCHAP_USER" \
		node.session.auth.password_in=wrong-target-secret ||
		vm_fail "mutual: node record"
	if login "$iqn"; then
		vm_fail "mutual: a target answering with another secret is refused"
		logout "$iqn"
	else
		vm_pass "mutual: a target answering with another secret is refused"
	fi
	iscsiadm_q -m node -T "$iqn" -p $PORTAL -o update -n node.session.auth.password_in \
		-v "$MCHAP_SECRET"
	cycle mutual "$iqn"
	logout_check mutual "$iqn"
}

sc_digest() {
	local iqn=$IQN_BASE:digest
	node_new "$iqn" "node.conn[0].iscsi.HeaderDigest=CRC32C" \
		"node.conn[0].iscsi.DataDigest=CRC32C" || vm_fail "digest: node record"
	cycle digest "$iqn"
	vm_check "digest: HeaderDigest negotiated CRC32C" \
		sh -c "iscsiadm -m session -P 2 | grep -q 'HeaderDigest: CRC32C'"
	vm_check "digest: DataDigest negotiated CRC32C" \
		sh -c "iscsiadm -m session -P 2 | grep -q 'DataDigest: CRC32C'"
	logout_check digest "$iqn"
}

sc_twoluns() {
	node_new "$IQN_BASE:twoluns" || vm_fail "twoluns: node record"
	cycle twoluns "$IQN_BASE:twoluns" 0 1
	logout_check twoluns "$IQN_BASE:twoluns"
}

sc_aio() {
	local iqn=$IQN_BASE:aio
	node_new "$iqn" || vm_fail "aio: node record"
	cycle aio "$iqn"
	logout_check aio "$iqn"
	# The host reads the backing file: the same patterns, the same files, a clean file system.
	vm_check "aio: the host finds the guest's data in the backing file" \
		vm_host check-file aio "$(cat "$DATA/aio-lun0.raw" | tr ' \n' ':,')" \
		"$(grep one.bin "$DATA/aio-lun0.sums" | cut -d' ' -f1)"
}

conn_errors() {
	dmesg | grep -c 'detected conn error'
}

writer() {
	local i=0
	mkdir -p /mnt/t/during
	: > "$DATA/during.sums"
	while [ ! -f "$DATA/stop" ] && [ $i -lt 400 ]; do
		head -c 65536 /dev/urandom > "$DATA/w"
		cp "$DATA/w" "/mnt/t/during/w$i"
		sync
		echo "$(sha256sum < "$DATA/w" | cut -d' ' -f1)  ./during/w$i" >> "$DATA/during.sums"
		i=$((i + 1))
	done
	echo "$i" > "$DATA/writer.done"
}

sc_restart() {
	local iqn=$IQN_BASE:restart dev pid i errs
	node_new "$iqn" || vm_fail "restart: node record"
	login_lun restart "$iqn" 0 "$LUN_SIZE" || return 1
	dev=$DEV
	fill restart "$dev" restart
	mount -t ext4 "$dev" /mnt/t || vm_fail "restart: mount"
	rm -f "$DATA/stop" "$DATA/writer.done"
	writer &
	pid=$!
	sleep 3
	errs=$(conn_errors)
	vm_check "restart: the host restarts iscsi_tgt while the guest writes" vm_host restart-target
	vm_check "restart: the initiator saw its connection fail" test "$(conn_errors)" -gt "$errs"
	i=0
	while [ $i -lt 60 ] && ! sessions_logged_in; do
		sleep 1
		i=$((i + 1))
	done
	vm_check "restart: the initiator is logged in again (after ${i} s)" sessions_logged_in
	sleep 3
	touch "$DATA/stop"
	i=0
	while [ $i -lt 120 ] && [ ! -f "$DATA/writer.done" ]; do
		sleep 1
		i=$((i + 1))
	done
	vm_check "restart: writes go on after the reconnection ($(cat "$DATA/writer.done" 2> /dev/null) files)" \
		test -f "$DATA/writer.done"
	wait $pid
	vm_check "restart: files written across the restart read back" \
		sh -c "echo 3 > /proc/sys/vm/drop_caches && cd /mnt/t && sha256sum -c $DATA/during.sums > /dev/null"
	umount /mnt/t
	vm_check "restart: e2fsck clean after the restart" fsck_clean "$dev"
	vm_check "restart: files from before the restart read back" files_check "$dev" restart
	vm_check "restart: O_DIRECT patterns from before the restart read back" \
		patterns_check "$dev" restart
	logout_check restart "$iqn"
}

vm_check "iscsid starts" start_iscsid
for s in $SCENARIOS; do
	t0=$(cut -d' ' -f1 /proc/uptime)
	if ! type "sc_$s" > /dev/null 2>&1; then
		vm_fail "no scenario named $s"
		continue
	fi
	"sc_$s"
	vm_log "scenario $s took $(awk -v a="$t0" '{ printf "%.1f", $1 - a }' /proc/uptime) s of guest time"
done
[ "$VM_FAILED" -eq 0 ]
