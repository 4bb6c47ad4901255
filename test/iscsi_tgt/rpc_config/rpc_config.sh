#!/usr/bin/env bash
# The iSCSI configuration on the real target: every kind of object over RPC, with errors that
# name the parameter and leave nothing behind, checked with libiscsi's tools (discovery,
# access lists, CHAP, login redirection, portal groups that wait); deletion of a target in use;
# save_config replayed with --json; the legacy INI file with -c; and the built-in default.
source "$(dirname "$0")/../../common/autotest_common.sh"

sock=$TEST_TMP/rpc.sock
log=$TEST_TMP/tgt.log
port=$(free_port)
port2=$(free_port)
port3=$(free_port)
t1=iqn.2016-06.io.spdk:disk1
client=$(cd "$(dirname "$0")/../common" && pwd)

# rpc_fails NAME WORD ARGS...: rpc.py exits non-zero and its message contains WORD.
rpc_fails() {
	local name=$1 word=$2 out
	shift 2
	out=$(rpc "$sock" "$@" 2>&1)
	if [ $? -ne 0 ] && echo "$out" | grep -q -- "$word"; then
		pass "$name"
	else
		echo "$out"
		fail "$name"
	fi
}

# json_check NAME PYTHON-EXPR METHOD...: evaluate the expression on the answer d.
json_check() {
	local name=$1 expr=$2
	shift 2
	check "$name" python3 -c "import json, sys; d = json.loads(sys.stdin.read()); assert $expr, d" \
		< <(rpc "$sock" "$@")
}

inq() { # URL [initiator name]
	timeout 20 iscsi-inq ${2:+-i "$2"} "$1" > /dev/null 2>&1
}

discovered() { # PORT WORD [initiator name]
	timeout 20 iscsi-ls ${3:+-i "$3"} "iscsi://127.0.0.1:$1" 2>&1 | grep -q -- "$2"
}

# 1. Started with --empty: nothing is configured.
if ! start_tgt "$sock" "$log" -m 0x1 --empty; then
	fail "iscsi_tgt --empty starts"
	finish
fi
json_check "--empty: no target node" "d == []" iscsi_get_target_nodes
json_check "--empty: no portal group" "d == []" iscsi_get_portal_groups
json_check "iscsi_get_options has SPDK's defaults" \
	"d['node_base'] == 'iqn.2016-06.io.spdk' and d['max_queue_depth'] == 64" iscsi_get_options
rpc_fails "iscsi_set_options is refused at runtime" "before framework" iscsi_set_options -a 8

# 2. Objects, and errors that leave nothing behind.
rpc "$sock" bdev_malloc_create -b Malloc0 64 512 > /dev/null
rpc "$sock" bdev_malloc_create -b Malloc1 16 512 > /dev/null
check "create portal group 1" rpc "$sock" iscsi_create_portal_group 1 "127.0.0.1:$port"
rpc_fails "a second portal group 1 is refused, naming 'tag'" "'tag'" \
	iscsi_create_portal_group 1 "127.0.0.1:$port2"
rpc_fails "a portal that is taken is refused, naming 'portals'" "'portals'" \
	iscsi_create_portal_group 4 "127.0.0.1:$port"
json_check "the refused groups were not made" "[g['tag'] for g in d] == [1]" \
	iscsi_get_portal_groups
rpc_fails "a bad netmask is refused, naming 'netmasks'" "'netmasks'" \
	iscsi_create_initiator_group 1 ANY 10.0.0.0/33
check "create initiator group 1" rpc "$sock" iscsi_create_initiator_group 1 \
	"ANY !iqn.2000-01.com.example:denied" 127.0.0.0/8
rpc_fails "a missing bdev is refused, naming 'luns'" "'luns'" \
	iscsi_create_target_node disk1 alias Nope:0 1:1 32 -d
rpc_fails "a missing portal group is refused, naming 'pg_ig_maps'" "'pg_ig_maps'" \
	iscsi_create_target_node disk1 alias Malloc0:0 9:1 32 -d
rpc_fails "queue depth 0 is refused, naming 'queue_depth'" "'queue_depth'" \
	iscsi_create_target_node disk1 alias Malloc0:0 1:1 0 -d
rpc_fails "mutual CHAP without CHAP is refused, naming 'mutual_chap'" "'mutual_chap'" \
	iscsi_create_target_node disk1 alias Malloc0:0 1:1 32 -m
rpc_fails "a missing auth group is refused, naming 'chap_group'" "'chap_group'" \
	iscsi_create_target_node disk1 alias Malloc0:0 1:1 32 -r -g 7
json_check "no target node and no SCSI device left by the errors" "d == []" \
	iscsi_get_target_nodes
json_check "scsi_get_devices is empty too" "d == []" scsi_get_devices
check "create target node disk1" rpc "$sock" iscsi_create_target_node disk1 "Data Disk1" \
	Malloc0:0 1:1 32 -d
check "discovery lists disk1 on its portal" discovered "$port" "$t1.*127.0.0.1:$port,1"
check "iscsi-inq reads LUN 0" inq "iscsi://127.0.0.1:$port/$t1/0"
check "a LUN without an id takes the lowest free one" rpc "$sock" iscsi_target_node_add_lun \
	disk1 Malloc1
json_check "LUN 1 is Malloc1" "d[0]['luns'][1] == {'bdev_name': 'Malloc1', 'lun_id': 1}" \
	iscsi_get_target_nodes
check "iscsi-inq reads LUN 1" inq "iscsi://127.0.0.1:$port/$t1/1"
rpc_fails "a mapped portal group cannot be deleted" "mapped" iscsi_delete_portal_group 1
rpc_fails "a mapped initiator group cannot be deleted" "mapped" iscsi_delete_initiator_group 1

# 3. Access lists.
check "a denied initiator is refused" bash -c "! timeout 20 iscsi-inq -i \
	iqn.2000-01.com.example:denied iscsi://127.0.0.1:$port/$t1/0 > /dev/null 2>&1"
check "discovery hides the target from a denied initiator" bash -c \
	"! timeout 20 iscsi-ls -i iqn.2000-01.com.example:denied iscsi://127.0.0.1:$port 2>&1 \
	| grep -q disk1"
check "other initiators still get in" inq "iscsi://127.0.0.1:$port/$t1/0" \
	iqn.2000-01.com.example:other
check "initiators can be removed" rpc "$sock" iscsi_initiator_group_remove_initiators 1 -n ANY
check "...and then no one else gets in" bash -c "! timeout 20 iscsi-inq -i \
	iqn.2000-01.com.example:other iscsi://127.0.0.1:$port/$t1/0 > /dev/null 2>&1"
check "initiators can be added" rpc "$sock" iscsi_initiator_group_add_initiators 1 -n ANY

# 4. A private portal group and login redirection; a portal group that waits.
check "create private portal group 2" rpc "$sock" iscsi_create_portal_group 2 \
	"127.0.0.1:$port2" -p
check "map disk1 through it" rpc "$sock" iscsi_target_node_add_pg_ig_maps disk1 2:1
check "discovery does not show the private portal" bash -c \
	"! timeout 20 iscsi-ls iscsi://127.0.0.1:$port 2>&1 | grep -q ':$port2'"
rpc_fails "redirection to a public portal is refused" "private" \
	iscsi_target_node_set_redirect disk1 1 -a 127.0.0.1 -p "$port"
check "redirect logins through group 1 to the private portal" rpc "$sock" \
	iscsi_target_node_set_redirect disk1 1 -a 127.0.0.1 -p "$port2"
check "a redirected initiator gets to the LUN" inq "iscsi://127.0.0.1:$port/$t1/0"
check "clear the redirection" rpc "$sock" iscsi_target_node_set_redirect disk1 1
check "create portal group 3 that waits" rpc "$sock" iscsi_create_portal_group 3 \
	"127.0.0.1:$port3" -w
check "...it does not listen yet" bash -c "! timeout 5 iscsi-ls iscsi://127.0.0.1:$port3 \
	> /dev/null 2>&1"
check "iscsi_start_portal_group" rpc "$sock" iscsi_start_portal_group 3
check "...now it listens" bash -c "timeout 20 iscsi-ls iscsi://127.0.0.1:$port3 > /dev/null"

# 5. CHAP for the target and for discovery.
check "create auth group 1" rpc "$sock" iscsi_create_auth_group 1 -c 'user:alice secret:wonderland1'
check "require CHAP on disk1" rpc "$sock" iscsi_target_node_set_auth disk1 -r -g 1
check "without the secret the login fails" bash -c "! timeout 20 iscsi-inq \
	iscsi://127.0.0.1:$port/$t1/0 > /dev/null 2>&1"
check "with the secret it works" inq "iscsi://alice%wonderland1@127.0.0.1:$port/$t1/0"
check "with a wrong secret it fails" bash -c "! timeout 20 iscsi-inq \
	iscsi://alice%nope@127.0.0.1:$port/$t1/0 > /dev/null 2>&1"
rpc_fails "an auth group in use cannot be deleted" "used" iscsi_delete_auth_group 1
check "require CHAP for discovery" rpc "$sock" iscsi_set_discovery_auth -r -g 1
check "discovery without the secret fails" bash -c "! timeout 20 iscsi-ls \
	iscsi://127.0.0.1:$port 2>&1 | grep -q disk1"
check "discovery with the secret lists disk1" bash -c "timeout 20 iscsi-ls \
	iscsi://alice%wonderland1@127.0.0.1:$port 2>&1 | grep -q disk1"
check "discovery with a wrong secret fails" bash -c "! timeout 20 iscsi-ls \
	iscsi://alice%nope@127.0.0.1:$port 2>&1 | grep -q disk1"
# Mutual CHAP: the target proves itself too (libiscsi's target_user/target_password).
check "a secret with a target name and secret" rpc "$sock" iscsi_auth_group_add_secret 1 \
	-u bob -s builder1234 -m keeltgt -r tgtsecret99
check "require mutual CHAP on disk1" rpc "$sock" iscsi_target_node_set_auth disk1 -r -m -g 1
check "mutual CHAP: the initiator checks the target's answer and logs in" inq \
	"iscsi://bob%builder1234@127.0.0.1:$port/$t1/0?target_user=keeltgt&target_password=tgtsecret99"
check "mutual CHAP: a target answer the initiator does not expect fails the login" bash -c \
	"! timeout 20 iscsi-inq 'iscsi://bob%builder1234@127.0.0.1:$port/$t1/0?target_user=keeltgt&target_password=other' > /dev/null 2>&1"
check "mutual CHAP: an initiator that does not ask the target to prove itself is refused" \
	bash -c "! timeout 20 iscsi-inq iscsi://bob%builder1234@127.0.0.1:$port/$t1/0 > /dev/null 2>&1"
check "mutual CHAP for discovery" rpc "$sock" iscsi_set_discovery_auth -r -m -g 1
check "mutual CHAP discovery lists disk1" bash -c "timeout 20 iscsi-ls \
	'iscsi://bob%builder1234@127.0.0.1:$port?target_user=keeltgt&target_password=tgtsecret99' 2>&1 | grep -q disk1"
check "discovery CHAP off again" rpc "$sock" iscsi_set_discovery_auth -d
check "target CHAP off again" rpc "$sock" iscsi_target_node_set_auth disk1 -d

# 6. Statistics, connections, the histogram.
json_check "iscsi_get_stats has the four counts" \
	"sorted(d) == ['exited', 'exiting', 'invalid', 'running']" iscsi_get_stats
check "iscsi_enable_histogram" rpc "$sock" iscsi_enable_histogram disk1
json_check "iscsi_get_histogram: base64 buckets and the ranges" \
	"len(__import__('base64').b64decode(d['histogram'])) == 8 * (d['max_range'] - d['min_range']) * 2 ** d['granularity'] and d['tsc_rate'] > 0" \
	iscsi_get_histogram disk1
# Four READs of one block each: the histogram counts them (a command the login brings, such as
# one retried after a unit attention, may add to the count, never take from it).
out=$(timeout 60 python3 - "$client" "$port" << 'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import iscsi_client as ic
c = ic.Connection('127.0.0.1', int(sys.argv[2]))
c.login(initiator='iqn.2000-01.com.example:histogram', target='iqn.2016-06.io.spdk:disk1')
ok = all(c.scsi(ic.read10(lba, 1), read_len=512)[0] == 0 for lba in range(4))
c.logout()
print('reads done' if ok else 'a read failed')
EOF
)
check "four reads over iSCSI" grep -q "reads done" <<< "$out"
json_check "iscsi_get_histogram counts the reads" \
	"sum(__import__('struct').unpack('<%dQ' % (len(__import__('base64').b64decode(d['histogram'])) // 8), __import__('base64').b64decode(d['histogram']))) >= 4" \
	iscsi_get_histogram disk1

# 7. A target deleted while an initiator is logged in: it is asked to log out, then it goes.
out=$(timeout 60 python3 - "$client" "$sock" "$port" "$RPC_PY" << 'EOF'
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import iscsi_client as ic
sock, port, rpc_py = sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = ic.Connection('127.0.0.1', port)
itt = c.next_itt()
c.next_itt = lambda: itt  # one ITT for the whole login
c.login(initiator='iqn.2000-01.com.example:holder', target='iqn.2016-06.io.spdk:disk1')
conns = subprocess.run([sys.executable, rpc_py, '-s', sock, 'iscsi_get_connections'],
                       capture_output=True, text=True).stdout
print('connection listed' if 'disk1' in conns and '127.0.0.1' in conns else 'not listed')
rpc = subprocess.Popen([sys.executable, rpc_py, '-s', sock, 'iscsi_delete_target_node', 'disk1'])
pdu = c.recv_pdu()
print('async logout request' if pdu.opcode == ic.OP_ASYNC and pdu.bhs[36] == 1 else 'other PDU')
print('delete waits' if rpc.poll() is None else 'delete did not wait')
c.next_itt = lambda: itt + 1
c.logout()
print('delete done' if rpc.wait(timeout=20) == 0 else 'delete failed')
EOF
)
echo "$out"
check "iscsi_get_connections lists the session" grep -q "connection listed" <<< "$out"
check "deleting a target in use sends the initiator a logout request" \
	grep -q "async logout request" <<< "$out"
check "the delete answers only once the initiator has logged out" grep -q "delete waits" <<< "$out"
check "the delete then succeeds" grep -q "delete done" <<< "$out"
json_check "disk1 is gone" "d == []" iscsi_get_target_nodes

# 8. save_config, then the same state from --json.
rpc "$sock" iscsi_create_target_node iqn.2001-04.com.example:disk2 "Disk 2" "Malloc0:0 Malloc1:3" \
	"1:1 2:1" 16 -H > /dev/null
rpc "$sock" iscsi_target_node_set_redirect iqn.2001-04.com.example:disk2 1 -a 127.0.0.1 \
	-p "$port2" > /dev/null
rpc "$sock" iscsi_portal_group_set_auth 3 -r -g 1 > /dev/null
rpc "$sock" save_config > "$TEST_TMP/config.json"
for m in iscsi_get_portal_groups iscsi_get_initiator_groups iscsi_get_target_nodes \
	iscsi_get_auth_groups iscsi_get_options; do
	rpc "$sock" "$m" > "$TEST_TMP/before.$m"
done
stop_tgt "$TGT_PID" 10
check "SIGTERM with the configuration exits 0" test $? -eq 0
if start_tgt "$sock" "$log" -m 0x1 --json "$TEST_TMP/config.json"; then
	for m in iscsi_get_portal_groups iscsi_get_initiator_groups iscsi_get_target_nodes \
		iscsi_get_auth_groups iscsi_get_options; do
		check "--json gives the same $m" cmp -s "$TEST_TMP/before.$m" <(rpc "$sock" "$m")
	done
	check "the replayed target answers" inq "iscsi://127.0.0.1:$port/iqn.2001-04.com.example:disk2/3"
	stop_tgt "$TGT_PID" 10
else
	fail "starts from the saved config"
fi

# 9. The legacy INI file.
cat > "$TEST_TMP/iscsi.conf" << EOF
[iSCSI]
  NodeBase "iqn.2020-01.org.example"
  AuthFile $TEST_TMP/auth.conf
  MaxQueueDepth 32
  DiscoveryAuthMethod Auto
[Malloc]
  NumberOfLuns 1
  LunSizeInMB 16
[PortalGroup1]
  Portal DA1 127.0.0.1:$port
[InitiatorGroup1]
  InitiatorName ANY
  Netmask 127.0.0.1/32
[TargetNode1]
  TargetName conf1
  TargetAlias "From the file"
  Mapping PortalGroup1 InitiatorGroup1
  AuthMethod CHAP
  AuthGroup AuthGroup1
  UseDigest Auto
  LUN0 Malloc0
  QueueDepth 16
EOF
printf '[AuthGroup1]\n  Auth bob builder99\n' > "$TEST_TMP/auth.conf"
chmod 600 "$TEST_TMP/auth.conf"
if start_tgt "$sock" "$log" -m 0x1 -c "$TEST_TMP/iscsi.conf"; then
	json_check "-c: the target from the file" \
		"d[0]['name'] == 'iqn.2020-01.org.example:conf1' and d[0]['queue_depth'] == 16 and d[0]['require_chap']" \
		iscsi_get_target_nodes
	json_check "-c: the AuthFile's group" "d[0]['secrets'][0]['user'] == 'bob'" \
		iscsi_get_auth_groups
	check "-c: the target answers with CHAP" inq \
		"iscsi://bob%builder99@127.0.0.1:$port/iqn.2020-01.org.example:conf1/0"
	stop_tgt "$TGT_PID" 10
else
	fail "starts with -c"
fi
printf '[iSCSI]\n  MaxQueueDepth 0\n' > "$TEST_TMP/bad.conf"
"$ISCSI_TGT" -m 0x1 -r "$sock" -c "$TEST_TMP/bad.conf" > "$log" 2>&1
check "a bad key stops the start with exit 1" test $? -eq 1
check "...naming the file, the line and the key" grep -q "bad.conf:2: \[iSCSI\] MaxQueueDepth" \
	"$log"

# 10. The built-in configuration: started with nothing at all.
if python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 3260))' 2> /dev/null; then
	if start_tgt "$sock" "$log" -m 0x1; then
		json_check "built-in: disk1 on Malloc0" \
			"d[0]['name'] == 'iqn.2016-06.io.spdk:disk1' and d[0]['luns'][0]['bdev_name'] == 'Malloc0'" \
			iscsi_get_target_nodes
		check "built-in: iscsi-inq on 127.0.0.1:3260" inq "iscsi://127.0.0.1:3260/$t1/0"
		stop_tgt "$TGT_PID" 10
	else
		fail "starts with the built-in configuration"
	fi
else
	echo "127.0.0.1:3260 is taken: checking that the target starts anyway"
	if start_tgt "$sock" "$log" -m 0x1; then
		sleep 1
		check "built-in: a taken port is logged" grep -q "built-in configuration" "$log"
		json_check "built-in: nothing half made" "d == []" iscsi_get_target_nodes
		stop_tgt "$TGT_PID" 10
	else
		fail "starts with the built-in configuration (port taken)"
	fi
fi
if start_tgt "$sock" "$log" -m 0x1 --wait-for-rpc; then
	check "iscsi_set_options before framework_start_init" rpc "$sock" iscsi_set_options -a 64 \
		-b iqn.2001-04.com.example
	rpc_fails "a second iscsi_set_options is refused" "only once" iscsi_set_options -a 32
	rpc "$sock" framework_start_init > /dev/null
	json_check "--wait-for-rpc: no built-in configuration" "d == []" iscsi_get_target_nodes
	json_check "the options set before the start hold" \
		"d['max_sessions'] == 64 and d['node_base'] == 'iqn.2001-04.com.example'" \
		iscsi_get_options
	stop_tgt "$TGT_PID" 10
fi
finish
