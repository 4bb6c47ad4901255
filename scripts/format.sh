#!/usr/bin/env bash
# Format keel's C sources with clang-format and scripts/.clang-format (the house style), or
# with --check only list the files that do not match it.
set -euo pipefail

rootdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
style_file=$rootdir/scripts/.clang-format
DIRS=(lib app include test)

usage() {
	cat <<EOF
Usage: scripts/format.sh [--check | --diff] [FILE...]

Runs clang-format with scripts/.clang-format over the .c and .h files under
${DIRS[*]} (or over the FILEs given), rewriting them in place.

  --check   change nothing; list the files that would change and exit 1 if any would
  --diff    as --check, and show each change as a unified diff
  --help    show this help

CLANG_FORMAT names the binary (default: clang-format, else clang-format-14).
EOF
}

mode="format"
files=()
for arg in "$@"; do
	case "$arg" in
	-h | --help)
		usage
		exit 0
		;;
	--check) mode="check" ;;
	--diff) mode="diff" ;;
	-*)
		echo "format.sh: unknown option '$arg' (see --help)" >&2
		exit 2
		;;
	*) files+=("$arg") ;;
	esac
done

clang_format=${CLANG_FORMAT:-}
if [ -z "$clang_format" ]; then
	for candidate in clang-format clang-format-14; do
		if command -v "$candidate" > /dev/null 2>&1; then
			clang_format=$candidate
			break
		fi
	done
fi
if [ -z "$clang_format" ]; then
	echo "format.sh: clang-format not found; install it with scripts/pkgdep.sh" >&2
	exit 1
fi

if [ ${#files[@]} -eq 0 ]; then
	cd "$rootdir"
	mapfile -t files < <(find "${DIRS[@]}" -type f \( -name '*.c' -o -name '*.h' \) \
		2> /dev/null | sort)
fi

changed=0
for file in "${files[@]}"; do
	if [ "$mode" = format ]; then
		"$clang_format" --style="file:$style_file" -i "$file"
		continue
	fi
	if ! "$clang_format" --style="file:$style_file" "$file" | cmp -s - "$file"; then
		echo "$file"
		changed=$((changed + 1))
		if [ "$mode" = diff ]; then
			"$clang_format" --style="file:$style_file" "$file" |
				diff -u --label "$file" --label "$file (formatted)" "$file" - || true
		fi
	fi
done

if [ "$changed" -gt 0 ]; then
	echo "format.sh: $changed of ${#files[@]} file(s) do not match scripts/.clang-format" \
		"(run scripts/format.sh to fix them)" >&2
	exit 1
fi
