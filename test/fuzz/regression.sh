#!/usr/bin/env bash
# Replay every fuzz target's corpus (test/fuzz/corpus/<target>/: seeds and the inputs of bugs
# found by fuzzing) and any crash input saved by `make fuzz` (test/fuzz/crashes/<target>/),
# one PASS/FAIL line per target. A build configured --with-fuzzer runs the libFuzzer binaries
# (under ASan and UBSan); any other build runs the plain replay drivers (<target>_regress).
source "$(dirname "$0")/../common/autotest_common.sh"

fuzzdir=$rootdir/test/fuzz
with_fuzzer=n
if grep -qx 'CONFIG_FUZZER=y' "$rootdir/mk/config.mk" 2> /dev/null; then
	with_fuzzer=y
fi

replay() { # target
	local t=$1 inputs=() f
	while IFS= read -r f; do
		inputs+=("$f")
	done < <(find "$fuzzdir/corpus/$t" "$fuzzdir/crashes/$t" -type f 2> /dev/null | sort)
	if [ ${#inputs[@]} -eq 0 ]; then
		echo "$t: no corpus in test/fuzz/corpus/$t"
		return 1
	fi
	if [ $with_fuzzer = y ]; then
		# Given files, not directories, libFuzzer runs each once and fuzzes nothing.
		timeout -k 10 300 "$fuzzdir/$t" -timeout=10 -rss_limit_mb=2048 "${inputs[@]}" \
			> "$TEST_TMP/$t.log" 2>&1
	else
		timeout -k 10 300 "$fuzzdir/${t}_regress" "${inputs[@]}" > "$TEST_TMP/$t.log" 2>&1
	fi
	local rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 30 "$TEST_TMP/$t.log"
		return 1
	fi
}

targets=$(make -s -C "$fuzzdir" --no-print-directory print-targets)
if [ -z "$targets" ]; then
	fail "fuzz targets are listed by test/fuzz/Makefile"
fi
for t in $targets; do
	n=$(find "$fuzzdir/corpus/$t" "$fuzzdir/crashes/$t" -type f 2> /dev/null | wc -l)
	check "$t replays its $n corpus and crash inputs" replay "$t"
done
finish
