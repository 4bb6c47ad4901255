#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu) against the running target, every test of the
# ALL family, with a second portal of the same target so that the MultipathIO tests run. Each
# suite runs under its own time limit (a command the target never answers would hang the tool).
# A test the suite itself skips counts as passed here and is listed; README.md explains each.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
port2=$(free_port)
target=iqn.2016-06.io.spdk:conformance
SUITE_TIMEOUT=${SUITE_TIMEOUT:-180}

if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" "127.0.0.1:$port2" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node conformance conformance Malloc0:0 1:2 64 -d > /dev/null

url="iscsi://127.0.0.1:$port/$target/0"
url2="iscsi://127.0.0.1:$port2/$target/0"
skipped=()
for suite in $(iscsi-test-cu -l | awk -F. 'NF == 2 && $1 == "ALL" { print $2 }'); do
	out=$TEST_TMP/$suite.log
	timeout -k 5 "$SUITE_TIMEOUT" iscsi-test-cu -d -S -v -t "ALL.$suite" "$url" "$url2" \
		> "$out" 2>&1
	rc=$?
	# CUnit verbose lines: "  Test: Name ...passed" or "...FAILED"; a skip prints [SKIPPED].
	awk -v suite="$suite" '
		/^  Test: / {
			name = $2
			if (skipped_pending) { skipped_pending = 0 }
		}
		/\[SKIPPED\]/ { skip[name] = 1 }
		/\.\.\.passed/ { if (skip[name]) print "SKIP: ALL." suite "." name; else print "PASS: ALL." suite "." name }
		/\.\.\.FAILED/ { print "FAIL: ALL." suite "." name }
	' "$out"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		fail "ALL.$suite finished within ${SUITE_TIMEOUT}s (the target stopped answering)"
		tail -n 20 "$out"
	elif grep -q 'FAILED' "$out"; then
		grep -B2 -A12 'FAILED' "$out" | head -n 60
	fi
	if ! kill -0 "$TGT_PID" 2> /dev/null; then
		fail "target alive after ALL.$suite"
		cat "$log"
		break
	fi
done
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0 after the conformance suite" test $? -eq 0
finish
