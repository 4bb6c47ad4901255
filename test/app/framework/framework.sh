#!/usr/bin/env bash
# The application framework, end to end with the real iscsi_tgt: option errors, reactors on
# the cores of the mask, RPC error paths, memory over many calls, SIGTERM and SIGKILL,
# a second instance on the same socket, --wait-for-rpc, --json and interrupt mode.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log

# 1. Bad options: one line, exit 1, before anything starts.
bad_option() { # expected-words... -- args...
	local out rc
	out=$("$ISCSI_TGT" -r "$TEST_TMP/bad.sock" "$@" 2>&1)
	rc=$?
	[ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && [ -n "$out" ] || {
		echo "options '$*': exit $rc, output: $out"
		return 1
	}
}
check "empty core mask exits 1" bad_option -m 0x0
check "core the machine lacks exits 1" bad_option -m 0x8000000000
check "malformed core list exits 1" bad_option -m '[3-1]'
check "memory size that is not a number exits 1" bad_option -s lots
check "missing config file exits 1" bad_option -c "$TEST_TMP/none.conf"
check "unknown option exits 1" bad_option --no-such-option
check "option without its value exits 1" bad_option -r
check "main core outside the mask exits 1" bad_option -m 0x1 -p 1
check "--help exits 0" "$ISCSI_TGT" --help
check "--version prints the version" bash -c "'$ISCSI_TGT' -v | grep -q '^keel v'"

# 2. Two reactors on cores 0 and 1.
if start_tgt "$sock" "$log" -m 0x3 --empty; then
	pass "starts with -m 0x3"
	reactors=$(rpc "$sock" framework_get_reactors)
	check "framework_get_reactors lists cores 0 and 1" python3 -c '
import json, sys
r = json.loads(sys.argv[1])
cores = sorted(x["lcore"] for x in r["reactors"])
assert cores == [0, 1], cores
assert r["tick_rate"] > 0
names = [t["name"] for x in r["reactors"] for t in x["lw_threads"]]
assert "app_thread" in names, names
' "$reactors"
	check "framework_get_reactors counts each reactor's context switches" python3 -c '
import json, sys
for x in json.loads(sys.argv[1])["reactors"]:
    assert x["voluntary_context_switches"] >= 0 and x["involuntary_context_switches"] >= 0, x
' "$reactors"
	check "the context switch monitor is on by default" \
		bash -c "test \"\$(python3 '$RPC_PY' -s '$sock' context_switch_monitor 2>/dev/null)\" = Enabled"
	check "framework_monitor_context_switch -d turns it off" \
		bash -c "test \"\$(python3 '$RPC_PY' -s '$sock' framework_monitor_context_switch -d)\" = Disabled"
	check "... and the state stays off" bash -c \
		"python3 '$RPC_PY' -s '$sock' call framework_monitor_context_switch | grep -q '\"enabled\": false'"
	check "a non-boolean enabled is refused" bash -c \
		"! python3 '$RPC_PY' -s '$sock' call framework_monitor_context_switch '{\"enabled\": 3}' 2>/dev/null"
	rpc "$sock" framework_monitor_context_switch -e > /dev/null
	rpc "$sock" log_set_flag reactor > /dev/null
	rpc "$sock" log_set_print_level INFO > /dev/null
	# Something else runnable on each reactor's core for 2.5 s: the kernel must share them.
	busy=()
	for cpu in 0 1; do
		taskset -c $cpu timeout 2.5 sh -c 'while :; do :; done' &
		busy+=($!)
	done
	wait "${busy[@]}" 2> /dev/null
	sleep 0.3
	check "the monitor logs the reactors' context switches (-L reactor, print level INFO)" \
		grep -q 'context switches in the last second' "$log"
	check "thread_get_stats reports the app thread" bash -c \
		"python3 '$RPC_PY' -s '$sock' thread_get_stats | grep -q app_thread"
	stop_tgt "$TGT_PID" 5
	check "SIGTERM with two reactors exits 0" test $? -eq 0
else
	fail "starts with -m 0x3"
fi

# 3. RPC error paths and 1,000 calls with resident memory flat (one core from here on).
if start_tgt "$sock" "$log" -m 0x1 --empty; then
	out=$(rpc "$sock" call no_such_method 2>&1)
	check "unknown method: rpc.py exits non-zero" test $? -ne 0
	check "unknown method: message says so" bash -c "echo '$out' | grep -qi 'method not found'"
	out=$(rpc "$sock" call framework_get_config '{"nme": "x"}' 2>&1)
	check "bad parameter: rpc.py exits non-zero" test $? -ne 0
	check "bad parameter: message names it" bash -c "echo '$out' | grep -q nme"
	out=$(rpc "$sock" framework_get_config nosuch 2>&1)
	check "unknown subsystem: error" test $? -ne 0
	check "old method names work" rpc "$sock" get_rpc_methods
	check "rpc_get_methods lists framework_get_reactors" bash -c \
		"python3 '$RPC_PY' -s '$sock' rpc_get_methods | grep -q framework_get_reactors"
	check "log_set_flag on an unknown flag fails" bash -c \
		"! python3 '$RPC_PY' -s '$sock' log_set_flag no_such_flag 2>/dev/null"
	check "log_set_print_level/get round trip" bash -c \
		"python3 '$RPC_PY' -s '$sock' log_set_print_level INFO &&
		 python3 '$RPC_PY' -s '$sock' log_get_print_level | grep -q INFO"
	check "raw request split over several writes is answered" python3 - "$sock" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "spdk_get_version"}).encode()
for i in range(0, len(req), 5):
    s.sendall(req[i:i + 5])
    time.sleep(0.01)
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(4096)
    assert chunk
    buf += chunk
resp = json.loads(buf)
assert resp["id"] == 7 and "keel" in resp["result"]["version"], resp
PY
	before=$(rss_kb "$TGT_PID")
	check "1,000 RPC calls succeed" python3 - "$rootdir/scripts" "$sock" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from rpc.client import JSONRPCClient
for i in range(1000):
    c = JSONRPCClient(sys.argv[2], timeout=10)
    c.call("spdk_get_version")
    c.call("framework_get_subsystems")
    c.close()
PY
	after=$(rss_kb "$TGT_PID")
	echo "resident memory: $before KiB before, $after KiB after"
	if grep -q '^CONFIG_ASAN=y' "$rootdir/mk/config.mk"; then
		# AddressSanitizer keeps freed memory in quarantine, so the resident size grows by
		# design; LeakSanitizer checks for leaks when the target exits instead.
		echo "resident memory check skipped in an AddressSanitizer build"
	else
		check "resident memory stable over 1,000 calls (< 4 MiB growth)" \
			test $((after - before)) -lt 4096
	fi

	# 4. A second instance on the same socket refuses, and the first keeps serving.
	out=$("$ISCSI_TGT" -m 0x1 -r "$sock" 2>&1)
	rc=$?
	check "second instance on the same socket exits 1" test $rc -eq 1
	check "second instance says the socket is in use" bash -c "echo '$out' | grep -q 'in use'"
	check "first instance still answers" rpc "$sock" spdk_get_version

	# 5. SIGTERM: exit 0 within 2 s.
	start=$(date +%s%N)
	stop_tgt "$TGT_PID" 2
	rc=$?
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	echo "SIGTERM: exit $rc after $elapsed_ms ms"
	check "SIGTERM exits 0 within 2 s" test $rc -eq 0
	check "socket file removed at exit" test ! -e "$sock"
else
	fail "starts with -m 0x1"
fi

# 6. SIGKILL: the next start comes up on the same socket.
if start_tgt "$sock" "$log" -m 0x1 --empty; then
	kill -KILL "$TGT_PID"
	wait "$TGT_PID" 2> /dev/null
	check "restart after SIGKILL comes up on the same socket" start_tgt "$sock" "$log" -m 0x1 --empty
	stop_tgt "$TGT_PID" 5
fi

# 7. Hugepages: with pages reserved, nothing is left in hugetlbfs after SIGTERM or SIGKILL.
hugedir=$TEST_TMP/huge
orig_pages=$(cat /proc/sys/vm/nr_hugepages)
mkdir -p "$hugedir"
if mount -t hugetlbfs nodev "$hugedir" 2> /dev/null; then
	echo $((orig_pages + 128)) > /proc/sys/vm/nr_hugepages
	free=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
	if [ "$free" -ge 64 ]; then
		for mode in private shared; do
			args=(-m 0x1 -s 64 --huge-dir "$hugedir" --empty)
			[ $mode = shared ] && args+=(-i 7)
			if start_tgt "$sock" "$log" "${args[@]}"; then
				check "hugepages ($mode): no fallback warning" bash -c "! grep -q 'no free hugepages' '$log'"
				stop_tgt "$TGT_PID" 5
				check "hugepages ($mode): SIGTERM exits 0" test $? -eq 0
				check "hugepages ($mode): no file left in hugetlbfs" test -z "$(ls -A "$hugedir")"
				start_tgt "$sock" "$log" "${args[@]}" && {
					kill -KILL "$TGT_PID"
					wait "$TGT_PID" 2> /dev/null
					check "hugepages ($mode): nothing left after SIGKILL" test -z "$(ls -A "$hugedir")"
					check "hugepages ($mode): restart after SIGKILL" start_tgt "$sock" "$log" "${args[@]}"
					stop_tgt "$TGT_PID" 5
				}
			else
				fail "hugepages ($mode): start"
			fi
		done
	else
		echo "only $free hugepages could be reserved: hugepage checks skipped"
	fi
	umount "$hugedir"
	echo "$orig_pages" > /proc/sys/vm/nr_hugepages
else
	echo "cannot mount hugetlbfs here: hugepage checks skipped"
fi

# 8. Without hugepages: one warning, and it runs. SIGINT sent twice at once (a terminal or
# timeout(1) signal the process group too) still stops it in order.
if start_tgt "$sock" "$log" -m 0x1 --no-huge --empty; then
	pass "runs with --no-huge"
	kill -INT "$TGT_PID"
	kill -INT "$TGT_PID"
	for ((i = 0; i < 100; i++)); do kill -0 "$TGT_PID" 2> /dev/null || break; sleep 0.05; done
	kill -KILL "$TGT_PID" 2> /dev/null
	wait "$TGT_PID"
	check "SIGINT twice at once exits 0" test $? -eq 0
fi

# 9. --wait-for-rpc: startup state until framework_start_init.
if start_tgt "$sock" "$log" -m 0x1 --wait-for-rpc; then
	check "startup state: runtime-only method refused" bash -c \
		"! python3 '$RPC_PY' -s '$sock' framework_get_reactors 2>/dev/null"
	check "startup state: framework_start_init listed as current" bash -c \
		"python3 '$RPC_PY' -s '$sock' rpc_get_methods --current | grep -q framework_start_init"
	check "framework_start_init succeeds" rpc "$sock" framework_start_init
	check "framework_wait_init returns" rpc "$sock" framework_wait_init
	check "runtime state: framework_get_reactors works" rpc "$sock" framework_get_reactors
	check "framework_start_init a second time fails" bash -c \
		"! python3 '$RPC_PY' -s '$sock' framework_start_init 2>/dev/null"
	rpc "$sock" save_config > "$TEST_TMP/config.json"
	check "save_config writes a subsystems list" python3 -c \
		"import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d['subsystems'], list)" \
		"$TEST_TMP/config.json"
	check "spdk_kill_instance SIGTERM stops it" rpc "$sock" spdk_kill_instance SIGTERM
	for ((i = 0; i < 40; i++)); do kill -0 "$TGT_PID" 2> /dev/null || break; sleep 0.1; done
	wait "$TGT_PID"
	check "after spdk_kill_instance the exit status is 0" test $? -eq 0
fi

# 10. --json: a saved configuration starts, a broken one is refused.
if [ -s "$TEST_TMP/config.json" ]; then
	check "starts from a saved JSON config" start_tgt "$sock" "$log" -m 0x1 --json "$TEST_TMP/config.json"
	stop_tgt "$TGT_PID" 5
fi
echo '{"subsystems": [{"subsystem": "x", "config": [{"method": "no_such_method"}]}]}' > "$TEST_TMP/bad.json"
"$ISCSI_TGT" -m 0x1 -r "$sock" --json "$TEST_TMP/bad.json" > "$log" 2>&1 &
pid=$!
TGT_PIDS+=("$pid")
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
wait "$pid"
check "a JSON config with an unknown method stops the start with exit 1" test $? -eq 1

# 11. Interrupt mode: an idle target uses almost no CPU, and still answers at once.
if start_tgt "$sock" "$log" -m 0x1 --interrupt-mode --empty; then
	sleep 0.5
	t0=$(awk '{ print $14 + $15 }' "/proc/$TGT_PID/stat")
	sleep 2
	t1=$(awk '{ print $14 + $15 }' "/proc/$TGT_PID/stat")
	ticks=$((t1 - t0))
	echo "interrupt mode: $ticks clock ticks of CPU in 2 s"
	check "interrupt mode: idle reactor sleeps (< 10% of a core)" test $ticks -lt 20
	check "interrupt mode: reactor reports in_interrupt" bash -c \
		"python3 '$RPC_PY' -s '$sock' framework_get_reactors | grep -q '\"in_interrupt\": true'"
	check "interrupt mode: RPC answered" rpc "$sock" spdk_get_version
	stop_tgt "$TGT_PID" 5
	check "interrupt mode: SIGTERM exits 0" test $? -eq 0
fi

finish
