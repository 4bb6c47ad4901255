#!/usr/bin/env bash
# Run keel's tests: every CUnit program under test/unit, the Python tests, then every
# integration script. Each suite prints its own result; the last line sums every test as
# "N passed, M failed". Usage: test/run_tests.sh [unit|integration|all]
set -u

rootdir=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
passed=0
failed=0
failed_names=()
logdir=$(mktemp -d /tmp/keel-tests.XXXXXX)
UT_TIMEOUT=${UT_TIMEOUT:-300}
IT_TIMEOUT=${IT_TIMEOUT:-900}

count() { # name passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	if [ "$3" -gt 0 ]; then
		failed_names+=("$1")
	fi
	printf '%-48s %4d passed, %d failed\n' "$1" "$2" "$3"
}

run_cunit() {
	local prog=$1 name log p f
	name=${prog#"$rootdir"/}
	log=$logdir/$(basename "$prog").log
	(cd "$(dirname "$prog")" && timeout -k 10 "$UT_TIMEOUT" "$prog") > "$log" 2>&1
	local rc=$?
	# CUnit's run summary: "tests  <total> <ran> <passed> <failed> <inactive>"
	read -r p f < <(awk '$1 == "tests" && NF >= 5 { print $4, $5 }' "$log" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	count "$name" "$p" "$f"
	if [ "$f" -gt 0 ]; then
		sed -e 's/^/    | /' "$log" | tail -n 40
	fi
}

run_pytest() {
	local file=$1 name log p f total
	name=${file#"$rootdir"/}
	log=$logdir/$(basename "$file").log
	timeout -k 10 "$UT_TIMEOUT" python3 "$file" -v > "$log" 2>&1
	local rc=$?
	total=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\}.*/\1/p' "$log" | tail -n 1)
	total=${total:-0}
	f=$(grep -cE '^(FAIL|ERROR):' "$log")
	p=$((total - f))
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	count "$name" "$p" "$f"
	if [ "$f" -gt 0 ]; then
		sed -e 's/^/    | /' "$log" | tail -n 40
	fi
}

run_integration() {
	local script=$1 name log p f
	name=${script#"$rootdir"/}
	log=$logdir/$(echo "$name" | tr '/' '_').log
	timeout -k 10 "$IT_TIMEOUT" bash "$script" > "$log" 2>&1
	local rc=$?
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL: $name exited with status $rc" >> "$log"
	fi
	count "$name" "$p" "$f"
	if [ "$f" -gt 0 ]; then
		grep -E '^(FAIL|PASS): ' "$log" | grep '^FAIL' | sed -e 's/^/    | /'
		sed -e 's/^/    | /' "$log" | tail -n 40
	fi
}

if [ "$what" = all ] || [ "$what" = unit ]; then
	echo "== unit tests"
	while IFS= read -r prog; do
		run_cunit "$prog"
	done < <(find "$rootdir/test/unit" -type f -name '*_ut' -perm -u+x | sort)
	while IFS= read -r file; do
		run_pytest "$file"
	done < <(find "$rootdir/test" -type f -name 'test_*.py' | sort)
fi

if [ "$what" = all ] || [ "$what" = integration ]; then
	echo "== integration tests"
	while IFS= read -r script; do
		run_integration "$script"
	done < <(find "$rootdir/test" -mindepth 2 -type f -name '*.sh' -path '*/test/*/*' \
		! -path '*/test/common/*' ! -path '*/test/perf/*' ! -path '*/test/unit/*' \
		! -path '*/test/vm/common/*' ! -path '*/test/vm/*/guest/*' ! -path '*/test/soak/*' \
		! -name 'run_tests.sh' | sort)
fi

if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed suites: ${failed_names[*]} (logs in $logdir)"
else
	rm -rf "$logdir"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
