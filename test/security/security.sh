#!/usr/bin/env bash
# Security: the RPC socket (mode 0600, other users refused by SO_PEERCRED even when the mode
# would let them in), CHAP failures logged with the initiator's name and address and never a
# secret (with every log flag on), the back-off on repeated failed logins without stalling the
# reactor (test/security/security.py), and the AuthFile warning when it is world-readable.
source "$(dirname "$0")/../common/autotest_common.sh"

here=$(dirname "$0")
sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
target=iqn.2016-06.io.spdk:secure
secret=Wonderland-s3cret-42
wrong=Guessing-wrong-s3cret-7

if ! start_tgt "$sock" "$log" -m 0x1 --no-huge -s 512 --empty -L all --print-level DEBUG; then
	fail "iscsi_tgt starts"
	finish
fi
check "the RPC socket is mode 0600" test "$(stat -c %a "$sock")" = 600

# Another user, with the path opened to everyone as a careless chmod would.
chmod 0711 "$TEST_TMP"
chmod 0666 "$sock"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"spdk_get_version\"}')
    print('answered' if s.recv(4096) else 'closed unanswered')
except (ConnectionResetError, BrokenPipeError):
    print('closed unanswered')
" "$sock" 2>&1)
echo "uid 65534: $out"
check "a client of another uid is closed unanswered" test "$out" = "closed unanswered"
check "... and the refusal is logged with its uid" grep -q "refusing a client of uid 65534" "$log"
chmod 0600 "$sock"
chmod 0700 "$TEST_TMP"
check "root still gets answers" rpc "$sock" spdk_get_version

rpc "$sock" bdev_malloc_create -b Malloc0 16 512 > /dev/null
rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port" > /dev/null
rpc "$sock" iscsi_create_initiator_group 2 ANY 127.0.0.1/32 > /dev/null
rpc "$sock" iscsi_create_auth_group 1 -c "user:alice secret:$secret" > /dev/null
check "a target node that requires CHAP" \
	rpc "$sock" iscsi_create_target_node secure secure Malloc0:0 1:2 64 -r -g 1
timeout 120 python3 "$here/security.py" 127.0.0.1 "$port" "$target" "$sock" "$TGT_PID" \
	"$secret" "$wrong" || true
check "the CHAP failure is logged with the initiator's name and address" \
	grep -q "iqn.2016-06.io.keel:guesser, 127.0.0.1.*CHAP" "$log"
check "no secret in the log (every flag on, DEBUG)" \
	bash -c "! grep -q -e '$secret' -e '$wrong' '$log'"
check "the back-off is logged" grep -q "failed logins from 127.0.0.1 within 60 s" "$log"
stop_tgt "$TGT_PID" 20
check "SIGTERM exits 0" test $? -eq 0

# AuthFile readable by every user: a warning; mode 0600: none.
printf '[AuthGroup1]\n  Auth alice %s\n' "$secret" > "$TEST_TMP/auth.conf"
printf '[iSCSI]\n  AuthFile %s\n' "$TEST_TMP/auth.conf" > "$TEST_TMP/iscsi.conf"
for mode in 644 600; do
	chmod $mode "$TEST_TMP/auth.conf"
	if start_tgt "$sock" "$TEST_TMP/auth$mode.log" -m 0x1 --no-huge -s 256 \
		-c "$TEST_TMP/iscsi.conf"; then
		stop_tgt "$TGT_PID" 20
	else
		fail "starts with an AuthFile of mode $mode"
	fi
done
check "an AuthFile of mode 644 is warned about" \
	grep -q "AuthFile .* can be read by every user" "$TEST_TMP/auth644.log"
check "an AuthFile of mode 600 is not" \
	bash -c "! grep -q 'can be read by every user' '$TEST_TMP/auth600.log'"
check "the AuthFile's secret is not in the logs" \
	bash -c "! grep -q '$secret' '$TEST_TMP/auth644.log' '$TEST_TMP/auth600.log'"
finish
