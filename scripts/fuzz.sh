#!/usr/bin/env bash
# Run keel's libFuzzer targets (test/fuzz), each for a given time, starting from its seed corpus.
# A tree configured --with-fuzzer is fuzzed in place; any other tree is copied to build/fuzz/tree
# and built there --with-fuzzer, so its own configuration and objects stay as they are.
set -euo pipefail
# Run from make or not, the builds below choose their own parallelism.
unset MAKEFLAGS MFLAGS MAKELEVEL

rootdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_time=${FUZZ_TIME:-60}
targets=()

usage() {
	cat <<EOF
Usage: scripts/fuzz.sh [--time SECONDS] [TARGET...]

Builds the fuzz targets with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer and
runs each one (or each TARGET named, e.g. conf_fuzz) for SECONDS (default \$FUZZ_TIME or 60).
Inputs come from test/fuzz/corpus/<target>/ (the seeds, never written to) and
build/fuzz/corpus/<target>/ (what earlier runs found; kept between runs). An input that
crashes, leaks, hangs or runs out of memory is saved in test/fuzz/crashes/<target>/; once the
bug is fixed, move the file into test/fuzz/corpus/<target>/ so it stays a regression test.

If mk/config.mk says CONFIG_FUZZER=y, the tree itself is built and fuzzed; otherwise its
sources are copied to build/fuzz/tree and configured there with --with-fuzzer --enable-debug.
Exit status: 0 if no target failed, 1 otherwise.

  --time SECONDS  how long each target runs
  --help          show this help
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--time)
		fuzz_time=${2:-}
		shift
		;;
	--time=*) fuzz_time=${1#*=} ;;
	-*)
		echo "fuzz.sh: unknown option '$1' (see --help)" >&2
		exit 2
		;;
	*) targets+=("$1") ;;
	esac
	shift
done
if ! [[ "$fuzz_time" =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz.sh: the time must be a positive number of seconds, not '$fuzz_time'" >&2
	exit 2
fi

# Copy the sources into the fuzz tree: file times are kept, so only what changed rebuilds, and
# sources that are gone here are removed there.
sync_tree() {
	local tree=$1 f
	local paths=(CONFIG configure mk include lib test/fuzz)

	mkdir -p "$tree"
	(cd "$rootdir" && tar -cf - --exclude='*.o' --exclude='*.d' --exclude='*.a' \
		--exclude='*.gcda' --exclude='*.gcno' --exclude=mk/config.mk \
		--exclude='test/fuzz/corpus' --exclude='test/fuzz/crashes' \
		--exclude='test/fuzz/*_fuzz' --exclude='test/fuzz/*_regress' "${paths[@]}") |
		(cd "$tree" && tar -xf -)
	(cd "$tree" && find include lib test/fuzz mk -type f \
		\( -name '*.c' -o -name '*.h' -o -name 'Makefile' -o -name '*.mk' \) \
		! -name config.mk) | while IFS= read -r f; do
		if [ ! -e "$rootdir/$f" ]; then
			rm -f "$tree/$f"
		fi
	done
}

if grep -qx 'CONFIG_FUZZER=y' "$rootdir/mk/config.mk" 2> /dev/null; then
	tree=$rootdir
else
	tree=$rootdir/build/fuzz/tree
	echo "fuzz.sh: building a --with-fuzzer copy of the tree in ${tree#"$rootdir"/}"
	sync_tree "$tree"
	(cd "$tree" && ./configure --with-fuzzer --enable-debug > /dev/null)
fi
make -C "$tree/lib" -j2 --no-print-directory > /dev/null
make -C "$tree/test/fuzz" -j2 --no-print-directory > /dev/null

# The targets this tree builds (a target whose library is not in the build yet is left out).
mapfile -t built < <(make -s -C "$tree/test/fuzz" --no-print-directory print-targets | tr ' ' '\n' |
	sed '/^$/d')
if [ ${#targets[@]} -eq 0 ]; then
	targets=("${built[@]}")
fi

failed=0
for t in "${targets[@]}"; do
	if ! printf '%s\n' "${built[@]}" | grep -qx "$t"; then
		echo "FAIL: $t: no such fuzz target (built: ${built[*]})"
		failed=$((failed + 1))
		continue
	fi
	seeds=$rootdir/test/fuzz/corpus/$t
	work=$rootdir/build/fuzz/corpus/$t
	crashes=$rootdir/test/fuzz/crashes/$t
	log=$rootdir/build/fuzz/$t.log
	mkdir -p "$work" "$crashes" "$seeds"
	opts=()
	if [ -f "$rootdir/test/fuzz/$t.options" ]; then
		# One option a line; # starts a comment line.
		mapfile -t opts < <(sed '/^#/d; /^[[:space:]]*$/d' "$rootdir/test/fuzz/$t.options")
	fi
	if [ -f "$rootdir/test/fuzz/$t.dict" ]; then
		opts+=("-dict=$rootdir/test/fuzz/$t.dict")
	fi
	echo "fuzz.sh: $t for ${fuzz_time}s (log: ${log#"$rootdir"/})"
	before=$(find "$crashes" -type f | sort)
	rc=0
	timeout -k 10 $((fuzz_time + 120)) "$tree/test/fuzz/$t" -max_total_time="$fuzz_time" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
		"${opts[@]}" "$work" "$seeds" > "$log" 2>&1 || rc=$?
	after=$(find "$crashes" -type f | sort)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	if [ $rc -eq 0 ] && [ "$after" = "$before" ]; then
		echo "PASS: $t: ${runs:-?} runs, coverage ${cov:-?}, nothing found"
	else
		echo "FAIL: $t: exit status $rc; inputs saved in ${crashes#"$rootdir"/}/:"
		comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d; s|.*/|    |'
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed|.*runtime error)' "$log" | head -n 5 |
			sed 's/^/    /' || true
		failed=$((failed + 1))
	fi
done
echo "fuzz.sh: ${#targets[@]} targets, $failed failed"
[ $failed -eq 0 ]
