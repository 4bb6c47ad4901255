# Helpers for keel's integration tests (sourced). Each check prints "PASS: name" or
# "FAIL: name"; test/run_tests.sh counts those lines. Every daemon a test starts is stopped by
# the EXIT trap, by its PID.

rootdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ISCSI_TGT=$rootdir/app/iscsi_tgt/iscsi_tgt
RPC_PY=$rootdir/scripts/rpc.py
TEST_TMP=$(mktemp -d /tmp/keel-it.XXXXXX)
TGT_PIDS=()
FAILED=0

# Sanitizer builds (make test-asan): leaks are reported, at exit, as failures; freed memory is
# not kept in ASan's large quarantine (tests that check resident memory would read it as growth).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=4:malloc_context_size=20}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }

# check NAME CMD...: run CMD, PASS if it exits 0.
check() {
	local name=$1
	shift
	if "$@"; then
		pass "$name"
	else
		fail "$name"
	fi
}

# check_fails NAME CMD...: PASS if CMD exits non-zero.
check_fails() {
	local name=$1
	shift
	if "$@"; then
		fail "$name"
	else
		pass "$name"
	fi
}

cleanup() {
	local pid
	for pid in "${TGT_PIDS[@]}"; do
		if kill -0 "$pid" 2> /dev/null; then
			kill -TERM "$pid" 2> /dev/null
			sleep 1
			kill -0 "$pid" 2> /dev/null && kill -KILL "$pid" 2> /dev/null
		fi
	done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

# rpc SOCK ARGS...: rpc.py against socket SOCK.
rpc() {
	local sock=$1
	shift
	python3 "$RPC_PY" -s "$sock" -t 30 "$@"
}

# fails_naming SOCK WORD ARGS...: rpc.py ARGS fails and its message contains WORD.
fails_naming() {
	local sock=$1 word=$2 out
	shift 2
	if out=$(rpc "$sock" "$@" 2>&1); then
		echo "rpc.py $* succeeded: $out"
		return 1
	fi
	echo "$out" | grep -q -- "$word" || {
		echo "rpc.py $*: message does not name $word: $out"
		return 1
	}
}

# start_tgt SOCK LOG ARGS...: start iscsi_tgt in the background on socket SOCK, wait until
# its RPC server answers; sets TGT_PID. Returns non-zero if it did not come up in 30 s.
start_tgt() {
	local sock=$1 log=$2 i
	shift 2
	"$ISCSI_TGT" -r "$sock" "$@" > "$log" 2>&1 &
	TGT_PID=$!
	TGT_PIDS+=("$TGT_PID")
	for ((i = 0; i < 300; i++)); do
		if ! kill -0 "$TGT_PID" 2> /dev/null; then
			echo "iscsi_tgt exited early:"
			cat "$log"
			return 1
		fi
		if [ -S "$sock" ] && rpc "$sock" -t 2 spdk_get_version > /dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "iscsi_tgt did not answer on $sock within 30 s:"
	cat "$log"
	return 1
}

# stop_tgt PID [TIMEOUT_S]: SIGTERM, wait; returns the exit status (124 on timeout).
stop_tgt() {
	local pid=$1 limit=${2:-10} i
	kill -TERM "$pid" 2> /dev/null || return 1
	for ((i = 0; i < limit * 20; i++)); do
		if ! kill -0 "$pid" 2> /dev/null; then
			wait "$pid"
			return $?
		fi
		sleep 0.05
	done
	kill -KILL "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	return 124
}

# rss_kb PID: resident memory in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

finish() {
	local f
	# A sanitizer report in any daemon's log fails the script, whatever its checks said.
	for f in "$TEST_TMP"/*.log; do
		if [ -f "$f" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
			fail "no sanitizer report in $(basename "$f")"
			grep -E -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -60
		fi
	done
	if [ "$FAILED" -gt 0 ]; then
		exit 1
	fi
	exit 0
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
