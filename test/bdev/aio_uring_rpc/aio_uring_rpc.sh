#!/usr/bin/env bash
# aio and uring bdevs end to end with the real iscsi_tgt and rpc.py: create on files with the
# block size detected or given, under today's and the old method names; the errors that must
# leave nothing behind; delete; save_config then a restart with --json giving the same bdevs;
# the legacy [AIO] and [Uring] sections.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
mem=(--no-huge -s 1024)

# bdevs SOCK: one "name num_blocks block_size product filename" line per file bdev, sorted.
bdevs() {
	rpc "$1" bdev_get_bdevs | python3 -c '
import json, sys
for b in sorted(json.load(sys.stdin), key=lambda b: b["name"]):
    d = b.get("driver_specific", {})
    f = (d.get("aio") or d.get("uring") or {}).get("filename")
    if f:
        print(b["name"], b["num_blocks"], b["block_size"], b["product_name"], f)
'
}

# has_bdev SOCK NAME BLOCKS BLOCK_SIZE PRODUCT FILE: bdev_get_bdevs -b NAME shows all that.
has_bdev() {
	rpc "$1" bdev_get_bdevs -b "$2" | python3 -c '
import json, sys
b = json.load(sys.stdin)
assert len(b) == 1, b
b = b[0]
d = b["driver_specific"]
f = (d.get("aio") or d.get("uring"))["filename"]
got = (b["num_blocks"], b["block_size"], b["product_name"], f)
want = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
assert got == want, (got, want)
' "$3" "$4" "$5" "$6"
}

f1=$TEST_TMP/disk1.img
f2=$TEST_TMP/disk2.img
f3=$TEST_TMP/disk3.img
small=$TEST_TMP/small.img
truncate -s 8M "$f1" "$f2" "$f3"
truncate -s 100 "$small"

# 1. Live configuration through rpc.py.
if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --empty; then
	pass "iscsi_tgt starts"
	out=$(rpc "$sock" bdev_aio_create "$f1" AIO0)
	check "bdev_aio_create FILE AIO0 prints AIO0" test "$out" = AIO0
	check "AIO0: 16384 blocks of 512 (detected), an AIO disk on the file" \
		has_bdev "$sock" AIO0 16384 512 "AIO disk" "$f1"
	out=$(rpc "$sock" construct_aio_bdev "$f2" AIO1 4096 2> /dev/null)
	check "construct_aio_bdev FILE AIO1 4096 prints AIO1" test "$out" = AIO1
	check "AIO1 has 2048 blocks of 4096" has_bdev "$sock" AIO1 2048 4096 "AIO disk" "$f2"
	out=$(rpc "$sock" bdev_uring_create "$f3" Uring0)
	check "bdev_uring_create FILE Uring0 prints Uring0" test "$out" = Uring0
	check "Uring0: 16384 blocks of 512, a URING disk on the file" \
		has_bdev "$sock" Uring0 16384 512 "URING disk" "$f3"
	out=$(rpc "$sock" bdev_uring_create "$f1" Uring1 -b 4096)
	check "bdev_uring_create FILE Uring1 -b 4096 prints Uring1" test "$out" = Uring1
	check "Uring1 has 2048 blocks of 4096" has_bdev "$sock" Uring1 2048 4096 "URING disk" "$f1"

	before=$(bdevs "$sock")
	for create in bdev_aio_create bdev_uring_create; do
		check "$create: a missing file is refused, naming it" \
			fails_naming "$sock" "$TEST_TMP/nope.img" $create "$TEST_TMP/nope.img" Bad
		check "$create: a file smaller than a block is refused" \
			fails_naming "$sock" "less than one block" $create "$small" Bad
		check "$create: block size 1000 is refused, naming block_size" \
			fails_naming "$sock" block_size $create "$f2" Bad 1000
		check "$create: block size 256 is refused, naming block_size" \
			fails_naming "$sock" block_size $create "$f2" Bad 256
		check "$create: a duplicate name is refused" \
			fails_naming "$sock" "already exists" $create "$f2" AIO0
	done
	check "the errors left nothing behind" test "$(bdevs "$sock")" = "$before"
	tgt_fds=$(ls "/proc/$TGT_PID/fd" | wc -l)

	check "bdev_aio_delete refuses a uring bdev" fails_naming "$sock" Uring1 bdev_aio_delete Uring1
	check "bdev_uring_delete refuses an aio bdev" fails_naming "$sock" AIO1 bdev_uring_delete AIO1
	check "delete_aio_bdev removes AIO1" rpc "$sock" delete_aio_bdev AIO1
	check "bdev_uring_delete removes Uring1" rpc "$sock" bdev_uring_delete Uring1
	check_fails "AIO1 is gone" rpc "$sock" bdev_get_bdevs -b AIO1
	check_fails "Uring1 is gone" rpc "$sock" bdev_get_bdevs -b Uring1
	check "their files are closed" test "$(ls "/proc/$TGT_PID/fd" | wc -l)" -eq $((tgt_fds - 2))
	check "deleting AIO1 again names the bdev" fails_naming "$sock" AIO1 bdev_aio_delete AIO1
	check "deleting Uring1 again names the bdev" \
		fails_naming "$sock" Uring1 bdev_uring_delete Uring1

	out=$(rpc "$sock" bdev_uring_create "$f2" Uring2 4096)
	check "bdev_uring_create FILE Uring2 4096 prints Uring2" test "$out" = Uring2
	expected=$(bdevs "$sock")
	check "save_config writes the bdevs" bash -c \
		"python3 '$RPC_PY' -s '$sock' save_config > '$TEST_TMP/config.json'"
	check "the saved config creates each with its file and block size" \
		python3 - "$TEST_TMP/config.json" "$f1" "$f2" "$f3" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
calls = [c for s in cfg["subsystems"] if s["subsystem"] == "bdev" for c in s["config"]]
got = sorted((c["method"], c["params"]["name"], c["params"]["filename"], c["params"]["block_size"])
             for c in calls if c["method"] in ("bdev_aio_create", "bdev_uring_create"))
f1, f2, f3 = sys.argv[2:5]
want = [("bdev_aio_create", "AIO0", f1, 512), ("bdev_uring_create", "Uring0", f3, 512),
        ("bdev_uring_create", "Uring2", f2, 4096)]
assert got == want, got
PY
	stop_tgt "$TGT_PID"
	check "SIGTERM with aio and uring bdevs exits 0" test $? -eq 0

	# 2. The saved configuration brings back the same bdevs.
	if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --json "$TEST_TMP/config.json"; then
		check "--json recreates the same bdevs" test "$(bdevs "$sock")" = "$expected"
		stop_tgt "$TGT_PID"
	else
		fail "--json recreates the same bdevs"
	fi
else
	fail "iscsi_tgt starts"
fi

# 3. The legacy [AIO] and [Uring] sections: usable lines create bdevs, the others are logged
# and skipped (as SPDK does), and the target still starts.
cat > "$TEST_TMP/iscsi.conf" << EOF
[AIO]
  AIO $f1 AIO5
  AIO $f2 AIO6 4096
  AIO $TEST_TMP/nope.img AIO7
[Uring]
  Uring $f3 Uring5 2048
  Uring $f3
EOF
if start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" -c "$TEST_TMP/iscsi.conf"; then
	check "[AIO] AIO FILE AIO5 gives AIO5" has_bdev "$sock" AIO5 16384 512 "AIO disk" "$f1"
	check "[AIO] AIO FILE AIO6 4096 gives AIO6" has_bdev "$sock" AIO6 2048 4096 "AIO disk" "$f2"
	check "[Uring] Uring FILE Uring5 2048 gives Uring5" \
		has_bdev "$sock" Uring5 4096 2048 "URING disk" "$f3"
	check "... and nothing more" test "$(bdevs "$sock" | wc -l)" -eq 3
	check "the line with a missing file is logged with its line number" \
		grep -q "iscsi.conf:4: \[AIO\] cannot create bdev AIO7" "$log"
	check "the line without a name is logged with its line number" \
		grep -q "iscsi.conf:7: \[Uring\] Uring $f3: no bdev name" "$log"
	stop_tgt "$TGT_PID"
	check "SIGTERM after the legacy config exits 0" test $? -eq 0
else
	fail "[AIO] AIO FILE AIO5 gives AIO5"
fi

finish
