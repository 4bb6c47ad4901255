#!/usr/bin/env bash
# The error injection bdev end to end with the real iscsi_tgt, rpc.py and a small iSCSI
# initiator (error_io.py): EE_Malloc0 exported as a LUN; a READ failed with MEDIUM ERROR while
# injected errors last and good after; a failed WRITE; NOMEM retried to success; corrupted read
# and write data; queue_depth; all and clear; a held READ ended by a LOGICAL UNIT RESET; a READ
# held until the bdev is deleted; the old
# method names; a base that comes later and one that goes; save_config then --json; the legacy
# [BdevError] section; and bdevperf's resets releasing held reads.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
iqn=iqn.2016-06.io.spdk
mem=(--no-huge -s 1024)
ERROR_IO=$rootdir/test/bdev/error/error_io.py
BDEVPERF=$rootdir/app/bdevperf/bdevperf

# io ARGS...: error_io.py against target "ee" of this target.
io() {
	timeout 60 python3 "$ERROR_IO" "$port" "$iqn:ee" "$@"
}

# For the checks that run in bash -c.
export -f io rpc
export port iqn ERROR_IO RPC_PY

# expect WHAT CMD...: CMD's output is exactly WHAT.
expect() {
	local want=$1 got
	shift
	got=$("$@")
	[ "$got" = "$want" ] || {
		echo "$*: got '$got', want '$want'"
		return 1
	}
}

# sha BYTE BLOCKS [OFFSET VALUE]: sha256 of BLOCKS 512-byte blocks of BYTE, with the byte at
# OFFSET XORed with VALUE.
sha() {
	python3 -c '
import hashlib, sys
b = bytearray([int(sys.argv[1], 0)]) * (512 * int(sys.argv[2]))
if len(sys.argv) > 3:
    b[int(sys.argv[3])] ^= int(sys.argv[4])
print(hashlib.sha256(b).hexdigest())' "$@"
}

# info SOCK NAME EXPR: a Python expression over d, the bdev's driver_specific["error_disk"].
info() {
	rpc "$1" bdev_get_bdevs -b "$2" | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]["driver_specific"]["error_disk"]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$3"
}

# names SOCK: every bdev name, sorted, on one line.
names() {
	rpc "$1" bdev_get_bdevs | python3 -c '
import json, sys
print(" ".join(sorted(b["name"] for b in json.load(sys.stdin))))'
}

# 1. Live: create, errors of the RPCs.
if ! start_tgt "$sock" "$log" -m 0x1 "${mem[@]}" --empty; then
	fail "iscsi_tgt starts"
	finish
fi
pass "iscsi_tgt starts"
rpc "$sock" bdev_malloc_create -b Malloc0 32 512 > /dev/null
check "bdev_error_create Malloc0 answers true" expect true rpc "$sock" bdev_error_create Malloc0
check "EE_Malloc0 has the base's geometry" bash -c \
	"rpc '$sock' bdev_get_bdevs -b EE_Malloc0 | grep -q '\"num_blocks\": 65536'"
check "EE_Malloc0 offers no zero-copy reads (corrupt_data must not reach the base's memory)" \
	bash -c "rpc '$sock' bdev_get_bdevs -b EE_Malloc0 | grep -q '\"zcopy\": false'"
check "bdev_get_bdevs shows the base, no injection" \
	info "$sock" EE_Malloc0 'd == {"base_bdev": "Malloc0", "injections": []}'
check "a second error bdev over Malloc0 is refused" \
	fails_naming "$sock" Malloc0 bdev_error_create Malloc0
check "the base is claimed: a split of it is refused" \
	fails_naming "$sock" "not permitted" bdev_split_create Malloc0 2
check "a bad io_type is refused, naming io_type" \
	fails_naming "$sock" io_type bdev_error_inject_error EE_Malloc0 reads failure
check "a bad error_type is refused, naming error_type" \
	fails_naming "$sock" error_type bdev_error_inject_error EE_Malloc0 read fail
check "corrupt_data with no corrupt_value is refused, naming it" \
	fails_naming "$sock" corrupt_value bdev_error_inject_error EE_Malloc0 read corrupt_data
check "corrupt_value 256 is refused" \
	fails_naming "$sock" corrupt_value bdev_error_inject_error EE_Malloc0 read corrupt_data -v 256
check "injecting into a bdev that is no error bdev is refused" \
	fails_naming "$sock" Malloc0 bdev_error_inject_error Malloc0 read failure
check "a bad uuid is refused, naming uuid" \
	fails_naming "$sock" uuid bdev_error_create Other --uuid nope
check "deleting an error bdev that does not exist is refused" \
	fails_naming "$sock" EE_Nope bdev_error_delete EE_Nope

# 2. Through iSCSI.
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
check "EE_Malloc0 exports as a LUN" \
	rpc "$sock" iscsi_create_target_node ee ee "EE_Malloc0:0" 1:2 64 -d
good=$(sha 0x5a 8)
check "WRITE of 0x5a to blocks 0-7 is GOOD" expect "0 0 0" io write 0 8 0x5a
check "READ gives them back" expect "0 0 0 $good" io read 0 8

rpc "$sock" bdev_error_inject_error EE_Malloc0 read failure -n 2 > /dev/null
check "the injection is listed" info "$sock" EE_Malloc0 \
	'd["injections"] == [{"io_type": "read", "error_type": "failure", "num": 2}]'
# Status 2: CHECK CONDITION; sense key 3: MEDIUM ERROR; ASC 0x11: UNRECOVERED READ ERROR.
check "read failure: READ is CHECK CONDITION, MEDIUM ERROR, UNRECOVERED READ ERROR" \
	bash -c "io read 0 8 | grep -q '^2 3 17 '"
check "... and the second READ too (num 2)" bash -c "io read 0 8 | grep -q '^2 3 17 '"
check "the third READ is GOOD, with the data: the errors are used up" \
	expect "0 0 0 $good" io read 0 8
check "... and the injection is gone" info "$sock" EE_Malloc0 'd["injections"] == []'
check "bdev_get_iostat counts the two failed reads" bash -c \
	"rpc '$sock' bdev_get_iostat -b EE_Malloc0 | grep -q '\"num_failed_ops\": 2'"

rpc "$sock" bdev_error_inject_error EE_Malloc0 write failure > /dev/null
# ASC 0x0c: WRITE ERROR.
check "write failure: WRITE is CHECK CONDITION, MEDIUM ERROR, WRITE ERROR" \
	expect "2 3 12" io write 0 8 0x11
check "the data is unchanged" expect "0 0 0 $good" io read 0 8
check "the next WRITE is GOOD (num defaults to 1)" expect "0 0 0" io write 8 8 0x5a

rpc "$sock" bdev_error_inject_error EE_Malloc0 read nomem -n 3 > /dev/null
check "nomem: the READ is retried by the bdev layer and is GOOD" \
	expect "0 0 0 $good" io read 0 8
check "... after using up the three NOMEM answers" info "$sock" EE_Malloc0 'd["injections"] == []'

rpc "$sock" bdev_error_inject_error EE_Malloc0 read corrupt_data -o 1000 -v 255 > /dev/null
check "corrupt_data on read: byte 1000 of the data comes back XORed with 255" \
	expect "0 0 0 $(sha 0x5a 8 1000 255)" io read 0 8
check "... in the read only: the blocks themselves are intact" expect "0 0 0 $good" io read 0 8
rpc "$sock" bdev_error_inject_error EE_Malloc0 write corrupt_data -o 3 -v 1 > /dev/null
check "corrupt_data on write: the WRITE is GOOD" expect "0 0 0" io write 16 8 0x5a
check "... and byte 3 of what was written is XORed with 1" \
	expect "0 0 0 $(sha 0x5a 8 3 1)" io read 16 8

rpc "$sock" bdev_error_inject_error EE_Malloc0 read failure -q 1 > /dev/null
check "queue_depth 1: a READ alone (none at the base) is not hit" \
	expect "0 0 0 $good" io read 0 8
check "... and the injection waits" info "$sock" EE_Malloc0 \
	'd["injections"] == [{"io_type": "read", "error_type": "failure", "num": 1}]'
rpc "$sock" bdev_error_inject_error EE_Malloc0 all failure -n 5 > /dev/null
check "all: every type is armed" info "$sock" EE_Malloc0 'len(d["injections"]) == 4'
check "clear forgets every injection" \
	rpc "$sock" bdev_error_inject_error EE_Malloc0 clear failure
check "... none is listed" info "$sock" EE_Malloc0 'd["injections"] == []'
check "... READ and WRITE are GOOD" bash -c \
	"io write 0 8 0x5a | grep -q '^0 0 0' && io read 0 8 | grep -q '^0 0 0 $good'"

# A held READ and a LOGICAL UNIT RESET: the SCSI layer resets the bdev once the task is marked
# aborted, the reset ends the READ (no answer for it), the function completes (response 0) and
# the next command sees the reset's unit attention (sense key 6, ASC 29h).
rpc "$sock" bdev_error_inject_error EE_Malloc0 read pending > /dev/null
check "pending: a LOGICAL UNIT RESET ends the held READ, without an answer, and completes" \
	expect "held 0 0 2 6 41" io held-read-reset 0 8 2
check "... and reads go on" bash -c "io read 0 8 | grep -q '^0 0 0 $good'"

# A held READ: no answer until the bdev goes; then ABORTED COMMAND (sense key 0xb) and the
# delete completes.
check "bdev_inject_error (old name) arms pending" \
	rpc "$sock" bdev_inject_error EE_Malloc0 read pending
check "pending: the READ is held, and bdev_error_delete ends it with ABORTED COMMAND" \
	expect "held 2 11 0" io held-read 0 8 2 python3 "$RPC_PY" -s "$sock" bdev_error_delete \
	EE_Malloc0
check "EE_Malloc0 is gone" test "$(names "$sock")" = "Malloc0"
check "Malloc0 is released: a split of it is allowed" rpc "$sock" bdev_split_create Malloc0 2
rpc "$sock" bdev_split_delete Malloc0 > /dev/null
check "construct_error_bdev (old name) creates it again" rpc "$sock" construct_error_bdev Malloc0
check "... over the same data" bash -c \
	"rpc '$sock' iscsi_target_node_add_lun '$iqn:ee' EE_Malloc0 -i 0 && io read 0 8 | grep -q '^0 0 0 $good'"
check "delete_error_bdev (old name) deletes it" rpc "$sock" delete_error_bdev EE_Malloc0

# A base that is not there yet, and one that goes.
check "bdev_error_create of a missing base answers true" \
	expect true rpc "$sock" bdev_error_create Later --uuid 4d0e3c2a-7d5b-4bb8-9d23-0c51e57a6e01
check "... and makes no bdev yet" test "$(names "$sock")" = "Malloc0"
rpc "$sock" bdev_malloc_create -b Later 8 512 > /dev/null
check "EE_Later appears with its base, with the UUID given" bash -c \
	"rpc '$sock' bdev_get_bdevs -b EE_Later | grep -q '4d0e3c2a-7d5b-4bb8-9d23-0c51e57a6e01'"
check "deleting the base removes EE_Later" rpc "$sock" bdev_malloc_delete Later
check "... and its configuration (as SPDK does)" test "$(names "$sock")" = "Malloc0"
rpc "$sock" bdev_error_create Waiting > /dev/null
check "a configuration still waiting for its base is deleted by name" \
	rpc "$sock" bdev_error_delete EE_Waiting

# 3. save_config, then --json.
rpc "$sock" bdev_error_create Malloc0 --uuid 0b4c8d9e-1f2a-4b3c-8d4e-5f6a7b8c9d0e > /dev/null
rpc "$sock" iscsi_target_node_add_lun "$iqn:ee" EE_Malloc0 -i 0 > /dev/null
rpc "$sock" save_config > "$TEST_TMP/config.json"
check "save_config writes bdev_error_create with the base and the UUID" python3 -c '
import json, sys
calls = [c for s in json.load(open(sys.argv[1]))["subsystems"] if s["subsystem"] == "bdev"
         for c in s["config"] if c["method"] == "bdev_error_create"]
assert calls == [{"method": "bdev_error_create", "params": {
    "base_name": "Malloc0", "uuid": "0b4c8d9e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"}}], calls' \
	"$TEST_TMP/config.json"
stop_tgt "$TGT_PID" 10
check "SIGTERM with an error bdev exits 0" test $? -eq 0
if start_tgt "$sock" "$log.2" -m 0x1 "${mem[@]}" --json "$TEST_TMP/config.json"; then
	check "--json restores Malloc0 and EE_Malloc0" test "$(names "$sock")" = "EE_Malloc0 Malloc0"
	check "... with its UUID" bash -c "rpc '$sock' bdev_get_bdevs -b EE_Malloc0 | grep -q 0b4c8d9e-1f2a"
	check "... exported again (a new malloc bdev: zeroes)" expect "0 0 0 $(sha 0 8)" io read 0 8
	stop_tgt "$TGT_PID" 10
	check "SIGTERM exits 0" test $? -eq 0
else
	fail "iscsi_tgt starts from the saved configuration"
fi

# 4. The legacy [BdevError] section.
cat > "$TEST_TMP/iscsi.conf" << CONF
[Malloc]
  NumberOfLuns 1
  LunSizeInMB 16
  BlockSize 512

[BdevError]
  BdevError Malloc0
  BdevError Later
CONF
if start_tgt "$sock" "$log.3" -m 0x1 "${mem[@]}" -c "$TEST_TMP/iscsi.conf"; then
	check "[BdevError] makes EE_Malloc0" test "$(names "$sock")" = "EE_Malloc0 Malloc0"
	check "the base that is not there yet is noted" grep -q 'Later does not exist yet' "$log.3"
	rpc "$sock" bdev_malloc_create -b Later 8 512 > /dev/null
	check "... and gets EE_Later when it appears" test "$(names "$sock")" = \
		"EE_Later EE_Malloc0 Later Malloc0"
	stop_tgt "$TGT_PID" 10
	check "SIGTERM exits 0" test $? -eq 0
else
	fail "iscsi_tgt starts with [BdevError]"
fi

# 5. Resets release held I/O: bdevperf's reset workload (reads, a reset every second) on
# EE_Malloc0 with reads held; without the release the first reset would wait forever.
cat > "$TEST_TMP/perf.json" << JSON
{"subsystems": [{"subsystem": "bdev", "config": [
  {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 16384, "block_size": 512}},
  {"method": "bdev_error_create", "params": {"base_name": "Malloc0"}}]}]}
JSON
timeout -k 5 60 "$BDEVPERF" "${mem[@]}" -r "$TEST_TMP/perf.sock" --json "$TEST_TMP/perf.json" \
	-T EE_Malloc0 -q 8 -o 4k -w reset -t 5 > "$TEST_TMP/perf.log" 2>&1 &
perf_pid=$!
for ((i = 0; i < 100; i++)); do
	rpc "$TEST_TMP/perf.sock" -t 2 bdev_get_bdevs -b EE_Malloc0 > /dev/null 2>&1 && break
	sleep 0.1
done
check "bdevperf: eight reads armed to be held" \
	rpc "$TEST_TMP/perf.sock" bdev_error_inject_error EE_Malloc0 read pending -n 8
sleep 0.5
check "bdevperf: the eight were held" \
	info "$TEST_TMP/perf.sock" EE_Malloc0 'd["injections"] == []'
# reads_done: reads completed on EE_Malloc0 so far.
reads_done() {
	rpc "$TEST_TMP/perf.sock" bdev_get_iostat -b EE_Malloc0 | python3 -c '
import json, sys
print(json.load(sys.stdin)["bdevs"][0]["num_read_ops"])'
}
sleep 1.2 # a reset has run since
r1=$(reads_done)
sleep 0.5
r2=$(reads_done)
check "bdevperf: reads go on after the next reset ($r1, then $r2)" test "${r2:-0}" -gt "${r1:-0}"
wait $perf_pid
rc=$?
resets=$(sed -n 's/.*resets: \([0-9]*\).*/\1/p' "$TEST_TMP/perf.log")
aborted=$(sed -n 's/.*aborted I\/O: \([0-9]*\).*/\1/p' "$TEST_TMP/perf.log")
check "bdevperf reset workload with held reads exits 0 in time" test $rc -eq 0
check "... after resets that completed" test "${resets:-0}" -ge 2
check "... which aborted the held reads" test "${aborted:-0}" -ge 8
[ $rc -eq 0 ] || cat "$TEST_TMP/perf.log"

finish
