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
# Every test of the ALL family, by suite, as iscsi-test-cu lists them.
iscsi-test-cu -l | awk -F. 'NF == 3 && $1 == "ALL"' > "$TEST_TMP/tests.lst"
: > "$TEST_TMP/results"
done_suites=()
for suite in $(awk -F. '{ print $2 }' "$TEST_TMP/tests.lst" | uniq); do
	out=$TEST_TMP/$suite.log
	timeout -k 5 "$SUITE_TIMEOUT" iscsi-test-cu -d -S -v -t "ALL.$suite" "$url" "$url2" \
		> "$out" 2>&1
	rc=$?
	# CUnit's verbose output: "  Test: Name ..." starts a test and its verdict is "passed" or
	# "FAILED" at the start of a line or right after the "..." (the tool's own "[FAILED]" log
	# lines are indented and bracketed); "[SKIPPED]" in between is the suite skipping it.
	# Exactly one line per listed test: one without a verdict (a crash, the time limit) fails.
	awk -v suite="$suite" -v rc="$rc" '
		FNR == NR { want[++n] = $0; next }
		/^  Test: / {
			name = $2
			rest = $0
			sub(/^  Test: [^ ]+ \.\.\./, "", rest)
			skip = 0
		}
		!/^  Test: / { rest = $0 }
		name != "" && /\[SKIPPED\]/ { skip = 1; why[name] = $0 }
		name != "" && rest ~ /^passed/ { verdict[name] = skip ? "SKIP" : "PASS"; name = "" }
		name != "" && rest ~ /^FAILED/ { verdict[name] = "FAIL"; name = "" }
		END {
			for (i = 1; i <= n; i++) {
				t = want[i]
				split(t, part, ".")
				v = verdict[part[3]]
				if (v == "PASS") {
					print "PASS: " t
				} else if (v == "SKIP") {
					r = why[part[3]]
					sub(/.*\[SKIPPED\] */, "", r)
					print "PASS: " t " (skipped by the suite: " r ")"
				} else if (v == "FAIL") {
					print "FAIL: " t
				} else {
					print "FAIL: " t " (no verdict; iscsi-test-cu exited with " rc ")"
				}
			}
		}
	' <(grep "^ALL\.$suite\." "$TEST_TMP/tests.lst") "$out" > "$TEST_TMP/verdicts"
	cat "$TEST_TMP/verdicts" | tee -a "$TEST_TMP/results"
	FAILED=$((FAILED + $(grep -c '^FAIL: ' "$TEST_TMP/verdicts")))
	done_suites+=("$suite")
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "ALL.$suite did not finish within ${SUITE_TIMEOUT}s (the target stopped answering):"
		tail -n 20 "$out"
	elif grep -q '^FAILED\|\.\.\.FAILED' "$out"; then
		grep -B2 -A12 'FAILED' "$out" | head -n 60
	fi
	if ! kill -0 "$TGT_PID" 2> /dev/null; then
		fail "target alive after ALL.$suite"
		cat "$log"
		break
	fi
done
# Tests of the suites that never ran (the target died) fail too: one line per test, always.
for t in $(cat "$TEST_TMP/tests.lst"); do
	suite=${t#ALL.}
	suite=${suite%%.*}
	if [[ " ${done_suites[*]} " != *" $suite "* ]]; then
		fail "$t (not run: the target was gone)"
	fi
done
echo "conformance: $(grep -c '^PASS: ' "$TEST_TMP/results") passed" \
	"($(grep -c 'skipped by the suite' "$TEST_TMP/results") of them skipped by the suite)," \
	"$(grep -c '^FAIL: ' "$TEST_TMP/results") failed, of $(wc -l < "$TEST_TMP/tests.lst") tests"
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0 after the conformance suite" test $? -eq 0
finish
