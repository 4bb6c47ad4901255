#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu) against a fresh target: every test of the ALL
# family, with a second portal of the same target so that the MultipathIO tests run. Each run of
# the tool has a time limit (a command the target never answered would hang it), and every test
# the tool lists gets exactly one PASS: or FAIL: line. A test the suite skips by itself counts
# as passed and says why; README.md lists them.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
port2=$(free_port)
target=iqn.2016-06.io.spdk:conformance
SUITE_TIMEOUT=${SUITE_TIMEOUT:-180}
# Tests that need a sanitize still running seconds after it began. A 64 MiB RAM LUN is
# overwritten in milliseconds, so these run with the LUN's writes limited (bdev QoS) to the
# pace of a slow disk: an OVERWRITE then takes 64 MiB / SLOW_MBPS seconds.
SLOW_TESTS=" ALL.Sanitize.Reset "
SLOW_MBPS=8

if ! command -v iscsi-test-cu > /dev/null; then
	fail "iscsi-test-cu is installed (Debian: libiscsi-bin)"
	finish
fi
if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --empty; then
	fail "iscsi_tgt starts"
	finish
fi
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" "127.0.0.1:$port2" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_target_node conformance conformance Malloc0:0 1:2 64 -d > /dev/null

url="iscsi://127.0.0.1:$port/$target/0"
url2="iscsi://127.0.0.1:$port2/$target/0"

# Every test of the ALL family, as iscsi-test-cu lists them.
iscsi-test-cu -l | awk -F. 'NF == 3 && $1 == "ALL"' > "$TEST_TMP/tests.lst"
: > "$TEST_TMP/results"
target_alive=true

# run SPEC: iscsi-test-cu on SPEC (a suite or one test) under the time limit, then one verdict
# line for each listed test of SPEC. CUnit's verbose output: "  Test: Name ..." starts a test
# and its verdict is "passed" or "FAILED" at the start of a line or right after the "..." (the
# tool's own "[FAILED]" log lines are indented and bracketed); "[SKIPPED]" in between is the
# suite skipping it. A listed test without a verdict (a crash, the time limit) fails.
run() {
	local spec=$1 out=$TEST_TMP/$1.log rc start
	start=$SECONDS
	timeout -k 5 "$SUITE_TIMEOUT" iscsi-test-cu -d -S -v -t "$spec" "$url" "$url2" > "$out" 2>&1
	rc=$?
	awk -v rc="$rc" '
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
	' <(awk -v s="$spec" '$0 == s || index($0, s ".") == 1' "$TEST_TMP/tests.lst") "$out" \
		> "$TEST_TMP/verdicts"
	cat "$TEST_TMP/verdicts" | tee -a "$TEST_TMP/results"
	FAILED=$((FAILED + $(grep -c '^FAIL: ' "$TEST_TMP/verdicts")))
	echo "# $spec: $((SECONDS - start)) s"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "$spec did not finish within ${SUITE_TIMEOUT}s (the target stopped answering):"
		tail -n 20 "$out"
	elif grep -q '^FAIL: ' "$TEST_TMP/verdicts"; then
		grep -B2 -A12 'FAILED' "$out" | head -n 60
	fi
	if ! kill -0 "$TGT_PID" 2> /dev/null; then
		fail "target alive after $spec"
		cat "$log"
		target_alive=false
	fi
}

# run_slow TEST: run one test with the LUN's writes limited to SLOW_MBPS.
run_slow() {
	rpc "$sock" bdev_set_qos_limit Malloc0 --w_mbytes_per_sec "$SLOW_MBPS" > /dev/null
	run "$1"
	rpc "$sock" bdev_set_qos_limit Malloc0 --w_mbytes_per_sec 0 > /dev/null
}

for suite in $(awk -F. '{ print $2 }' "$TEST_TMP/tests.lst" | uniq); do
	$target_alive || break
	tests=$(grep "^ALL\.$suite\." "$TEST_TMP/tests.lst")
	slow=false
	for t in $tests; do
		[[ "$SLOW_TESTS" == *" $t "* ]] && slow=true
	done
	if ! $slow; then
		run "ALL.$suite"
		continue
	fi
	# A suite with a slow test runs test by test, only that one on the slow LUN.
	for t in $tests; do
		$target_alive || break
		if [[ "$SLOW_TESTS" == *" $t "* ]]; then
			run_slow "$t"
		else
			run "$t"
		fi
	done
done
# Tests that never ran (the target died) fail too: one line per test, always.
while IFS= read -r t; do
	if ! awk -v t="$t" '$2 == t { found = 1 } END { exit !found }' "$TEST_TMP/results"; then
		fail "$t (not run: the target was gone)"
	fi
done < "$TEST_TMP/tests.lst"
echo "conformance: $(grep -c '^PASS: ' "$TEST_TMP/results") passed" \
	"($(grep -c 'skipped by the suite' "$TEST_TMP/results") of them skipped by the suite)," \
	"$(grep -c '^FAIL: ' "$TEST_TMP/results") failed, of $(wc -l < "$TEST_TMP/tests.lst") tests"
if $target_alive; then
	stop_tgt "$TGT_PID" 20
	check "SIGTERM exits 0 after the conformance suite" test $? -eq 0
fi
finish
