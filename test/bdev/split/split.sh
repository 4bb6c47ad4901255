#!/usr/bin/env bash
# Split bdevs end to end with the real iscsi_tgt and rpc.py: a 64 MiB malloc bdev cut into
# parts, each exported as a LUN; data written through one part lands at that part's offset of
# the base and nowhere else; the errors; the base claimed while split; delete; the parts
# following their base away and back; save_config then --json; the legacy [Split] section.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
iqn=iqn.2016-06.io.spdk
mem=(--no-huge -s 1024)

# geometry SOCK NAME: "num_blocks block_size" of bdev NAME.
geometry() {
	rpc "$1" bdev_get_bdevs -b "$2" | python3 -c '
import json, sys
b = json.load(sys.stdin)[0]
print(b["num_blocks"], b["block_size"])'
}

# names SOCK: every bdev name, sorted, on one line.
names() {
	rpc "$1" bdev_get_bdevs | python3 -c '
import json, sys
print(" ".join(sorted(b["name"] for b in json.load(sys.stdin))))'
}

# url TARGET LUN: a qemu-img address of the LUN.
url() {
	echo "json:{\"file.driver\":\"iscsi\",\"file.transport\":\"tcp\",\"file.portal\":\"127.0.0.1:$port\",\"file.target\":\"$iqn:$1\",\"file.lun\":$2}"
}

# 1. Live: split, export, write and read through the parts.
if ! start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --empty; then
	fail "iscsi_tgt starts"
	finish
fi
pass "iscsi_tgt starts"
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
out=$(rpc "$sock" bdev_split_create Malloc0 4)
check "bdev_split_create Malloc0 4 prints the four parts" \
	test "$out" = "Malloc0p0 Malloc0p1 Malloc0p2 Malloc0p3"
check "each part has a quarter of the blocks" test "$(geometry "$sock" Malloc0p3)" = "32768 512"
out=$(rpc "$sock" bdev_get_bdevs -b Malloc0p2)
check "bdev_get_bdevs shows the base and the part's offset" python3 -c '
import json, sys
s = json.loads(sys.argv[1])[0]["driver_specific"]["split"]
assert s == {"base_bdev": "Malloc0", "offset_blocks": 65536}, s' "$out"
check "the base is claimed: a second split is refused" \
	fails_naming "$sock" Malloc0 bdev_split_create Malloc0 2
check "splitting a part of a split is allowed, the part not being claimed yet" \
	rpc "$sock" bdev_split_create Malloc0p3 2
check "... which gives Malloc0p3p0 and Malloc0p3p1" \
	test "$(geometry "$sock" Malloc0p3p1)" = "16384 512"
check "deleting that split brings back Malloc0p3 alone" rpc "$sock" bdev_split_delete Malloc0p3
check_fails "Malloc0p3p0 is gone" rpc "$sock" bdev_get_bdevs -b Malloc0p3p0
check "split_count 0 is refused, naming split_count" \
	fails_naming "$sock" split_count bdev_split_create Malloc0p1 0
check "parts larger than the base are refused, naming split_size_mb" \
	fails_naming "$sock" split_size_mb bdev_split_create Malloc0p1 2 -s 16
rpc "$sock" bdev_malloc_create -b Tiny 1 4096 > /dev/null
check "more parts than blocks are refused" fails_naming "$sock" split_count bdev_split_create Tiny 300
rpc "$sock" bdev_malloc_delete Tiny > /dev/null
check "a missing base is refused, naming it" \
	fails_naming "$sock" Nope bdev_split_create Nope 2
check "deleting a split that does not exist is refused" \
	fails_naming "$sock" Malloc0p1 bdev_split_delete Malloc0p1
check "the errors left only the base and its parts" \
	test "$(names "$sock")" = "Malloc0 Malloc0p0 Malloc0p1 Malloc0p2 Malloc0p3"

rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
check "parts export as LUNs of one target" \
	rpc "$sock" iscsi_create_target_node parts parts "Malloc0p0:0 Malloc0p1:1 Malloc0p2:2" 1:2 64 -d
out=$(timeout 20 iscsi-readcapacity16 "iscsi://127.0.0.1:$port/$iqn:parts/1" 2>&1)
check "LUN 1 reports the part's 16 MiB" bash -c \
	"echo '$out' | grep -qi 'RETURNED LOGICAL BLOCK ADDRESS:32767'"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$TEST_TMP/p1.img"
check "qemu-img writes 16 MiB to part 1" timeout 120 \
	qemu-img convert -n -f raw -O raw "$TEST_TMP/p1.img" "$(url parts 1)"
check "qemu-img reads part 1 back" timeout 120 \
	qemu-img convert -f raw -O raw "$(url parts 1)" "$TEST_TMP/p1.out"
check "part 1 compares byte for byte" cmp "$TEST_TMP/p1.img" "$TEST_TMP/p1.out"
check "qemu-img reads part 0" timeout 120 \
	qemu-img convert -f raw -O raw "$(url parts 0)" "$TEST_TMP/p0.out"
check "part 0 is still zeroes: part 1's data went nowhere else" \
	cmp "$TEST_TMP/p0.out" <(head -c $((16 * 1024 * 1024)) /dev/zero)

# The base with the split deleted: part 1's data at 16 MiB.
check "deleting the split with its parts exported succeeds" rpc "$sock" bdev_split_delete Malloc0
check_fails "the parts are gone" rpc "$sock" bdev_get_bdevs -b Malloc0p0
check "the base is free again: exported as a LUN of its own" \
	rpc "$sock" iscsi_create_target_node base base "Malloc0:0" 1:2 64 -d
check "qemu-img reads the whole base" timeout 120 \
	qemu-img convert -f raw -O raw "$(url base 0)" "$TEST_TMP/base.out"
check "part 1's data is at 16 MiB of the base" \
	cmp "$TEST_TMP/p1.img" <(tail -c +$((16 * 1024 * 1024 + 1)) "$TEST_TMP/base.out" | head -c $((16 * 1024 * 1024)))
rpc "$sock" iscsi_delete_target_node "$iqn:base" > /dev/null

# Fixed-size parts, and the parts going away with their base and coming back with it.
out=$(rpc "$sock" construct_split_vbdev Malloc0 3 -s 8)
check "construct_split_vbdev Malloc0 3 -s 8 makes three 8 MiB parts" \
	bash -c "test '$out' = 'Malloc0p0 Malloc0p1 Malloc0p2' && test '$(geometry "$sock" Malloc0p2)' = '16384 512'"
check "deleting the base removes its parts" rpc "$sock" bdev_malloc_delete Malloc0
check "only the configuration is left" test "$(names "$sock")" = ""
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
check "a new Malloc0 is split again" test "$(names "$sock")" = "Malloc0 Malloc0p0 Malloc0p1 Malloc0p2"

# save_config, then a restart with --json gives the same split.
rpc "$sock" save_config > "$TEST_TMP/config.json"
check "save_config writes bdev_split_create" grep -q '"bdev_split_create"' "$TEST_TMP/config.json"
check "save_config leaves out the target whose LUNs all went with the split" \
	bash -c "! grep -q '$iqn:parts' '$TEST_TMP/config.json'"
check "... and says so" grep -q "target $iqn:parts has no LUN left" "$log"
stop_tgt "$TGT_PID" 10
check "SIGTERM with a split exits 0" test $? -eq 0
if start_tgt "$sock" "$log.2" -m 0x1 "${mem[@]}" --json "$TEST_TMP/config.json"; then
	check "--json restores the base and its three parts" \
		test "$(names "$sock")" = "Malloc0 Malloc0p0 Malloc0p1 Malloc0p2"
	check "the parts keep their size" test "$(geometry "$sock" Malloc0p1)" = "16384 512"
	check "destruct_split_vbdev removes them" rpc "$sock" destruct_split_vbdev Malloc0
	check "only the base is left" test "$(names "$sock")" = "Malloc0"
	stop_tgt "$TGT_PID" 10
	check "SIGTERM exits 0" test $? -eq 0
else
	fail "iscsi_tgt starts from the saved configuration"
fi

# 2. The legacy [Split] section, a base of the config file and one that is not.
cat > "$TEST_TMP/iscsi.conf" << CONF
[Malloc]
  NumberOfLuns 1
  LunSizeInMB 32
  BlockSize 4096

[Split]
  Split Malloc0 2
  Split Later 4 1
CONF
if start_tgt "$sock" "$log.3" -m 0x1 "${mem[@]}" -c "$TEST_TMP/iscsi.conf"; then
	check "[Split] splits Malloc0 into two" test "$(geometry "$sock" Malloc0p1)" = "4096 4096"
	check "the base that is not there yet is noted" grep -q 'Later does not exist yet' "$log.3"
	rpc "$sock" bdev_malloc_create -b Later 8 512 > /dev/null
	check "... and split into four 1 MiB parts when it appears" \
		test "$(geometry "$sock" Laterp3)" = "2048 512"
	stop_tgt "$TGT_PID" 10
	check "SIGTERM exits 0" test $? -eq 0
else
	fail "iscsi_tgt starts with [Split]"
fi
finish
