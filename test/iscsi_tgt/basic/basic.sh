#!/usr/bin/env bash
# The seed guide's example, from the RPC side and word for word with the old method names, then
# checked with real initiators: libiscsi's iscsi-ls, iscsi-inq and iscsi-readcapacity16, and
# qemu-img copying 64 MiB to the LUN and back with digests off and on, and with the target's
# ImmediateData and InitialR2T both ways.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:disk1

if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
check "construct_malloc_bdev -b Malloc0 64 512" rpc "$sock" construct_malloc_bdev -b Malloc0 64 512
check "construct_malloc_bdev -b Malloc1 64 512" rpc "$sock" construct_malloc_bdev -b Malloc1 64 512
check "add_portal_group 1 127.0.0.1:$port" rpc "$sock" add_portal_group 1 "127.0.0.1:$port"
check "add_initiator_group 2 ANY 127.0.0.1/32" rpc "$sock" add_initiator_group 2 ANY 127.0.0.1/32
check "construct_target_node disk1 \"Data Disk1\" \"Malloc0:0 Malloc1:1\" 1:2 64 -d" \
	rpc "$sock" construct_target_node disk1 "Data Disk1" "Malloc0:0 Malloc1:1" 1:2 64 -d

out=$(timeout 20 iscsi-ls -s "iscsi://127.0.0.1:$port" 2>&1)
echo "$out"
check "iscsi-ls discovers $target" bash -c "echo '$out' | grep -q '$target'"
check "iscsi-ls shows the portal" bash -c "echo '$out' | grep -q '127.0.0.1:$port'"

out=$(timeout 20 iscsi-inq "iscsi://127.0.0.1:$port/$target/0" 2>&1)
echo "$out"
check "iscsi-inq: a disk (peripheral device type 0)" bash -c "echo '$out' | grep -qi 'Device Type:.*\(0\|DIRECT\)'"
check "iscsi-inq: product is the bdev's" bash -c "echo '$out' | grep -qi 'Malloc disk'"
out=$(timeout 20 iscsi-readcapacity16 "iscsi://127.0.0.1:$port/$target/1" 2>&1)
echo "$out"
check "iscsi-readcapacity16: 131072 blocks of 512 bytes" bash -c \
	"echo '$out' | grep -qi 'LOGICAL BLOCK LENGTH IN BYTES:512' && echo '$out' | grep -qi 'RETURNED LOGICAL BLOCK ADDRESS:131071'"

# 64 MiB of random data to the LUN and back.
head -c $((64 * 1024 * 1024)) /dev/urandom > "$TEST_TMP/in.img"
for digest in none crc32c; do
	url="iscsi://127.0.0.1:$port/$target/0"
	opts=""
	[ $digest = crc32c ] && opts="-o header-digest=crc32c"
	rm -f "$TEST_TMP/out.img"
	check "qemu-img writes 64 MiB to the LUN (digest $digest)" timeout 120 \
		qemu-img convert -n -f raw -O raw "$TEST_TMP/in.img" \
		"json:{\"file.driver\":\"iscsi\",\"file.transport\":\"tcp\",\"file.portal\":\"127.0.0.1:$port\",\"file.target\":\"$target\",\"file.lun\":0,\"file.header-digest\":\"$digest\"}"
	check "qemu-img reads it back (digest $digest)" timeout 120 \
		qemu-img convert -f raw -O raw \
		"json:{\"file.driver\":\"iscsi\",\"file.transport\":\"tcp\",\"file.portal\":\"127.0.0.1:$port\",\"file.target\":\"$target\",\"file.lun\":0,\"file.header-digest\":\"$digest\"}" \
		"$TEST_TMP/out.img"
	check "data compares byte for byte (digest $digest)" cmp "$TEST_TMP/in.img" "$TEST_TMP/out.img"
done

check "get_iscsi_connections answers" rpc "$sock" get_iscsi_connections
check "get_target_nodes lists disk1" bash -c "python3 '$RPC_PY' -s '$sock' get_target_nodes | grep -q '$target'"
stop_tgt "$TGT_PID" 10
check "SIGTERM with targets configured exits 0" test $? -eq 0

# The same copy with the target's ImmediateData and InitialR2T the other ways (set before
# start-up; libiscsi offers ImmediateData=Yes and InitialR2T=No, so the target's choice wins).
for combo in "--no-immediate-data --initial-r2t:No:Yes:crc32c" "--initial-r2t:Yes:Yes:none" \
	"--no-immediate-data:No:No:none"; do
	IFS=: read -r opts imm r2t digest <<< "$combo"
	name="ImmediateData=$imm InitialR2T=$r2t, digest $digest"
	sock=$TEST_TMP/rpc.$imm$r2t.sock
	port=$(free_port)
	if ! start_tgt "$sock" "$log.$imm$r2t" -m 0x1 --wait-for-rpc; then
		fail "iscsi_tgt starts ($name)"
		continue
	fi
	# shellcheck disable=SC2086
	rpc "$sock" iscsi_set_options $opts > /dev/null
	rpc "$sock" framework_start_init > /dev/null
	want="d['immediate_data'] == ('$imm' == 'Yes') and d['initial_r2t'] == ('$r2t' == 'Yes')"
	check "iscsi_get_options: $name" python3 -c \
		"import json, sys; d = json.load(sys.stdin); assert $want, d" \
		< <(rpc "$sock" iscsi_get_options)
	rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
	rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
	rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
	rpc "$sock" iscsi_create_target_node disk1 "Data Disk1" Malloc0:0 1:2 64 -d > /dev/null
	json="json:{\"file.driver\":\"iscsi\",\"file.transport\":\"tcp\",\"file.portal\":\"127.0.0.1:$port\",\"file.target\":\"$target\",\"file.lun\":0,\"file.header-digest\":\"$digest\"}"
	rm -f "$TEST_TMP/out.img"
	check "qemu-img writes 64 MiB ($name)" timeout 120 \
		qemu-img convert -n -f raw -O raw "$TEST_TMP/in.img" "$json"
	check "qemu-img reads it back ($name)" timeout 120 \
		qemu-img convert -f raw -O raw "$json" "$TEST_TMP/out.img"
	check "data compares byte for byte ($name)" cmp "$TEST_TMP/in.img" "$TEST_TMP/out.img"
	stop_tgt "$TGT_PID" 10
	check "SIGTERM exits 0 ($name)" test $? -eq 0
done
finish
