#!/usr/bin/env bash
# Malloc and null bdevs end to end with the real iscsi_tgt and rpc.py: SPDK's guide commands,
# the errors that must leave nothing behind, delete, save_config then a restart with --json
# giving the same bdevs and UUIDs, and the legacy [Malloc] section.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
# Ordinary memory of a known size: the test must not depend on the hugepages the machine has.
mem=(--no-huge -s 1024)

# bdevs SOCK: one "name num_blocks block_size uuid product" line per bdev, sorted.
bdevs() {
	rpc "$1" bdev_get_bdevs | python3 -c '
import json, sys
for b in sorted(json.load(sys.stdin), key=lambda b: b["name"]):
    print(b["name"], b["num_blocks"], b["block_size"], b["uuid"], b["product_name"])
'
}

# has_bdev SOCK NAME BLOCKS BLOCK_SIZE: bdev_get_bdevs -b NAME shows that geometry.
has_bdev() {
	rpc "$1" bdev_get_bdevs -b "$2" | python3 -c '
import json, sys
b = json.load(sys.stdin)
assert len(b) == 1, b
assert (b[0]["num_blocks"], b[0]["block_size"]) == (int(sys.argv[1]), int(sys.argv[2])), b
' "$3" "$4"
}

# 1. Live configuration through rpc.py.
if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --empty; then
	pass "iscsi_tgt starts"
	out=$(rpc "$sock" construct_malloc_bdev -b Malloc0 64 512 2> /dev/null)
	check "construct_malloc_bdev -b Malloc0 64 512 prints Malloc0" test "$out" = Malloc0
	check "Malloc0 has 131072 blocks of 512 bytes" has_bdev "$sock" Malloc0 131072 512
	check "Malloc0 is a Malloc disk" bash -c "python3 '$RPC_PY' -s '$sock' get_bdevs -b Malloc0 |
		grep -q '\"product_name\": \"Malloc disk\"'"
	before=$(bdevs "$sock")
	check "zero size is refused, naming num_blocks" \
		fails_naming "$sock" num_blocks bdev_malloc_create -b Bad 0 512
	check "block size 1000 is refused, naming block_size" \
		fails_naming "$sock" block_size bdev_malloc_create -b Bad 64 1000
	check "block size 256 is refused" fails_naming "$sock" block_size bdev_malloc_create 1 256
	check "a duplicate name is refused" \
		fails_naming "$sock" Malloc0 construct_malloc_bdev -b Malloc0 8 512
	check "a bad UUID is refused" fails_naming "$sock" uuid bdev_malloc_create -u xyz 8 512
	check "more than memory holds is refused" \
		fails_naming "$sock" memory bdev_malloc_create -b Huge 1048576 512
	check "the errors left nothing behind" test "$(bdevs "$sock")" = "$before"

	out=$(rpc "$sock" bdev_malloc_create 8 4096)
	check "without -b the name is the lowest free MallocN" test "$out" = Malloc1
	check "Malloc1 has 2048 blocks of 4096 bytes" has_bdev "$sock" Malloc1 2048 4096
	uuid=0f6c2a6e-7d3b-4b5e-9c21-6a1f2e3d4c5b
	check "bdev_malloc_create -u keeps the UUID" rpc "$sock" bdev_malloc_create -b MU -u $uuid 4 512
	check "the bdev is found by its UUID" has_bdev "$sock" $uuid 8192 512
	out=$(rpc "$sock" construct_null_bdev Null0 16 4096 2> /dev/null)
	check "construct_null_bdev Null0 16 4096 prints Null0" test "$out" = Null0
	check "Null0 has 4096 blocks of 4096 bytes" has_bdev "$sock" Null0 4096 4096
	check "a null bdev of block size 1000 is refused" \
		fails_naming "$sock" block_size bdev_null_create NullBad 16 1000

	check "bdev_malloc_delete removes Malloc1" rpc "$sock" bdev_malloc_delete Malloc1
	check_fails "Malloc1 is gone" rpc "$sock" bdev_get_bdevs -b Malloc1
	check "deleting it again names the bdev" \
		fails_naming "$sock" Malloc1 delete_malloc_bdev Malloc1
	check "bdev_malloc_delete refuses a null bdev" \
		fails_naming "$sock" Null0 bdev_malloc_delete Null0
	check "delete_bdev removes a bdev of any module" rpc "$sock" delete_bdev MU

	expected=$(bdevs "$sock")
	check "save_config writes the bdevs" bash -c \
		"python3 '$RPC_PY' -s '$sock' save_config > '$TEST_TMP/config.json'"
	check "the saved config creates Malloc0 with its UUID" python3 - "$TEST_TMP/config.json" \
		"$(echo "$expected" | awk '$1 == "Malloc0" { print $4 }')" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
calls = [c for s in cfg["subsystems"] if s["subsystem"] == "bdev" for c in s["config"]]
m = [c["params"] for c in calls if c["method"] == "bdev_malloc_create"]
assert m == [{"name": "Malloc0", "num_blocks": 131072, "block_size": 512, "uuid": sys.argv[2]}], m
PY
	stop_tgt "$TGT_PID"
	check "SIGTERM with malloc and null bdevs exits 0" test $? -eq 0

	# 2. The saved configuration brings back the same bdevs with the same UUIDs.
	if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --json "$TEST_TMP/config.json"; then
		check "--json recreates the same bdevs and UUIDs" test "$(bdevs "$sock")" = "$expected"
		stop_tgt "$TGT_PID"
	else
		fail "--json recreates the same bdevs and UUIDs"
	fi
else
	fail "iscsi_tgt starts"
fi

# 3. The legacy [Malloc] and [Null] sections.
cat > "$TEST_TMP/iscsi.conf" <<'EOF'
[Malloc]
  NumberOfLuns 2
  LunSizeInMB 16
[Null]
  Dev Null7 8 4096
EOF
if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" -c "$TEST_TMP/iscsi.conf"; then
	check "[Malloc] NumberOfLuns 2 LunSizeInMB 16 gives Malloc0" has_bdev "$sock" Malloc0 32768 512
	check "... and Malloc1" has_bdev "$sock" Malloc1 32768 512
	check "... and nothing more" test "$(bdevs "$sock" | grep -c Malloc)" -eq 2
	check "[Null] Dev Null7 8 4096 gives Null7" has_bdev "$sock" Null7 2048 4096
	stop_tgt "$TGT_PID"
else
	fail "[Malloc] NumberOfLuns 2 LunSizeInMB 16 gives Malloc0"
fi

printf '[Malloc]\n  NumberOfLuns 1\n  LunSizeInMB 4\n  BlockSize 1000\n' > "$TEST_TMP/bad.conf"
out=$(timeout 30 "$ISCSI_TGT" -m 0x1 "${mem[@]}" -r "$TEST_TMP/bad.sock" -c "$TEST_TMP/bad.conf" 2>&1)
rc=$?
check "a bad BlockSize stops the start" test $rc -ne 0 -a $rc -ne 124
check "the message names the file, line and key" bash -c \
	"echo \"\$1\" | grep -q 'bad.conf:4: \[Malloc\] BlockSize'" _ "$out"

finish
